package httpdata_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/zclconf/go-cty/cty"

	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/templates/httpdata"
)

func kinds() templates.Kinds {
	return templates.Kinds{DataSources: map[string]templates.DataKind{"http": {
		Kind:    templates.Kind{New: func() templates.Config { return new(httpdata.Config) }},
		Type:    httpdata.Type,
		Execute: httpdata.Execute,
	}}}
}

func load(t *testing.T, src string, execute bool) (*templates.Plan, string) {
	t.Helper()
	fsys := fstest.MapFS{"t/a.pkr.hcl": &fstest.MapFile{Data: []byte(src)}}
	p, diags := templates.Load("t", templates.LoadOptions{FS: fsys, Kinds: kinds(), ExecuteData: execute, Context: context.Background()})
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.Error() + "\n")
	}
	return p, b.String()
}

func local(p *templates.Plan, name string) cty.Value {
	for _, l := range p.Locals {
		if l.Name == name {
			return l.Value
		}
	}
	return cty.NilVal
}

// TestHTTPDataSource: a template reads a body and a response header from
// a server on loopback, sending the request headers it was given.
func TestHTTPDataSource(t *testing.T) {
	var gotAuth, gotMethod string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotMethod = r.Header.Get("Authorization"), r.Method
		switch r.URL.Path {
		case "/version":
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Add("X-Tag", "a")
			w.Header().Add("X-Tag", "b")
			_, _ = w.Write([]byte("1.2.3\n"))
		default:
			http.Error(w, "nope", http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)

	src := `data "http" "v" {
  url = "` + srv.URL + `/version"
  request_headers = {
    Authorization = "Bearer t0k3n"
  }
}
locals {
  version = trimspace(data.http.v.body)
  type    = data.http.v.response_headers["Content-Type"]
  tags    = data.http.v.response_headers["X-Tag"]
  url     = data.http.v.url
}
`
	p, diags := load(t, src, true)
	if diags != "" {
		t.Fatal(diags)
	}
	for name, want := range map[string]string{"version": "1.2.3", "type": "text/plain", "tags": "a, b", "url": srv.URL + "/version"} {
		if got := local(p, name); got == cty.NilVal || got.AsString() != want {
			t.Errorf("local.%s = %#v, want %q", name, got, want)
		}
	}
	if gotAuth != "Bearer t0k3n" || gotMethod != "GET" {
		t.Errorf("server saw Authorization %q, method %q", gotAuth, gotMethod)
	}

	// validate does not request: the value is unknown but typed.
	gotMethod = ""
	p, diags = load(t, src, false)
	if diags != "" || gotMethod != "" || local(p, "version").IsKnown() {
		t.Errorf("validate: diags %q, request %q, version %#v", diags, gotMethod, local(p, "version"))
	}

	// A status outside 2xx fails the load at the data block, and the
	// error carries neither the URL's path nor the token.
	_, diags = load(t, strings.Replace(src, "/version", "/secret-path", 1), true)
	if !strings.Contains(diags, "Data source failed") || !strings.Contains(diags, "404 Not Found") ||
		strings.Contains(diags, "secret-path") || strings.Contains(diags, "t0k3n") {
		t.Errorf("404: %s", diags)
	}
	// So does a refused connection, without the URL.
	srv.Close()
	_, diags = load(t, src, true)
	if !strings.Contains(diags, "Data source failed") || strings.Contains(diags, "/version") {
		t.Errorf("refused connection: %s", diags)
	}
}

func TestHTTPDataSourceConfig(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`request_headers = { a = "b" }`, `needs the option "url"`},
		{`url = "ftp://example.invalid/x"`, "must be an absolute http:// or https:// address"},
		{`url = "/relative"`, "must be an absolute http:// or https:// address"},
		{"url = \"http://127.0.0.1/\"\nmethod = \"FETCH\"", `"FETCH" is not an HTTP method`},
	} {
		_, diags := load(t, "data \"http\" \"x\" {\n"+tc.src+"\n}\n", false)
		if !strings.Contains(diags, tc.want) {
			t.Errorf("%s: want %q, got %s", tc.src, tc.want, diags)
		}
	}
}
