package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// apiSpec checks HTTP answers against the OpenAPI document the server
// serves, and remembers which documented answers it has seen.
type apiSpec struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	mu       sync.Mutex
	schemas  map[string]*jsonschema.Schema
	seen     map[string]bool // "METHOD PATH STATUS"
}

const specURL = "bake:///openapi.json"

func newAPISpec(t *testing.T, raw []byte) *apiSpec {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(specURL, doc); err != nil {
		t.Fatal(err)
	}
	m := doc.(map[string]any)
	if v, _ := m["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		t.Fatalf("openapi version %q", v)
	}
	return &apiSpec{doc: m, compiler: c, schemas: map[string]*jsonschema.Schema{}, seen: map[string]bool{}}
}

// pointer is the JSON pointer of a path template in the document.
func pointer(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		p = strings.NewReplacer("~", "~0", "/", "~1").Replace(p)
		b.WriteString("/" + url.PathEscape(p))
	}
	return b.String()
}

func (a *apiSpec) schema(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.schemas[ptr]; ok {
		return s
	}
	s, err := a.compiler.Compile(specURL + "#" + ptr)
	if err != nil {
		t.Fatalf("compile %s: %v", ptr, err)
	}
	a.schemas[ptr] = s
	return s
}

// operations lists the documented "METHOD PATH" pairs.
func (a *apiSpec) operations() [][2]string {
	var out [][2]string
	for p, item := range a.doc["paths"].(map[string]any) {
		for m := range item.(map[string]any) {
			out = append(out, [2]string{strings.ToUpper(m), p})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][1]+out[i][0] < out[j][1]+out[j][0] })
	return out
}

func (a *apiSpec) responses(method, tmpl string) map[string]any {
	item, _ := a.doc["paths"].(map[string]any)[tmpl].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	r, _ := op["responses"].(map[string]any)
	return r
}

// check validates one answer to METHOD tmpl: its status is documented, its
// content type is, its documented headers are there, and its body (each
// data line of a stream) matches the schema.
func (a *apiSpec) check(t *testing.T, method, tmpl string, code int, header http.Header, body []byte) {
	t.Helper()
	resps := a.responses(method, tmpl)
	if resps == nil {
		t.Errorf("%s %s is not in the OpenAPI document", method, tmpl)
		return
	}
	key := strconv.Itoa(code)
	r, ok := resps[key].(map[string]any)
	if !ok && code >= 500 {
		key = "default"
		r, ok = resps[key].(map[string]any)
	}
	if !ok {
		t.Errorf("%s %s answered %d, which the document does not list: %s", method, tmpl, code, body)
		return
	}
	a.mu.Lock()
	a.seen[method+" "+tmpl+" "+key] = true
	a.mu.Unlock()
	for h := range mapOf(r["headers"]) {
		if header.Get(h) == "" {
			t.Errorf("%s %s %d: no %s header", method, tmpl, code, h)
		}
	}
	content := mapOf(r["content"])
	ct, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if _, ok := content[ct]; !ok {
		t.Errorf("%s %s %d: content type %q is not documented (%v)", method, tmpl, code, ct, keys(content))
		return
	}
	base := pointer("paths", tmpl, strings.ToLower(method), "responses", key, "content", ct)
	switch ct {
	case "text/event-stream":
		item := a.schema(t, base+"/x-item-schema")
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			d, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			n++
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(d))
			if err != nil {
				t.Errorf("%s %s: data line is not JSON: %q", method, tmpl, d)
				continue
			}
			if err := item.Validate(v); err != nil {
				t.Errorf("%s %s: data line does not match the document: %v\n%s", method, tmpl, err, d)
			}
			var ev Event
			if json.Unmarshal([]byte(d), &ev) == nil && ev.Type == "run" {
				a.validate(t, method+" "+tmpl+" run event", "/components/schemas/Run", ev.Body)
			}
		}
		if n == 0 {
			t.Errorf("%s %s: the stream had no data line", method, tmpl)
		}
	case "application/json":
		a.validate(t, fmt.Sprintf("%s %s %d", method, tmpl, code), base+"/schema", body)
	default:
		b, _ := json.Marshal(string(body))
		a.validate(t, fmt.Sprintf("%s %s %d", method, tmpl, code), base+"/schema", b)
	}
}

func (a *apiSpec) validate(t *testing.T, what, ptr string, body []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s: body is not JSON: %v: %s", what, err, body)
		return
	}
	if err := a.schema(t, ptr).Validate(v); err != nil {
		t.Errorf("%s: the body does not match the document: %v\n%s", what, err, body)
	}
}

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// request makes a request of METHOD tmpl (with its parameters filled in
// as path) as role ("" for none) and checks the answer against the
// document. A stream is read until it ends or for at most streamFor.
func (a *apiSpec) request(t *testing.T, s *service, method, tmpl, path, role, ctype, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, s.url+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+s.tokens[role])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	a.check(t, method, tmpl, resp.StatusCode, resp.Header, data)
	return resp.StatusCode, data
}

// fill puts values into a path template's {parameters}.
func fill(tmpl string, vals map[string]string) string {
	for k, v := range vals {
		tmpl = strings.ReplaceAll(tmpl, "{"+k+"}", url.PathEscape(v))
	}
	return tmpl
}

// TestOpenAPI checks the real server against internal/server/openapi.json
// (as the server serves it): every documented operation is called; every
// answer's status, content type, headers and body (each data line of a
// stream) must be documented and match its schema; and every documented
// status must come up, except the two below that the test cannot cause.
func TestOpenAPI(t *testing.T) {
	hook := &hookReceiver{secret: "hook-secret"}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	// "offline" publishes to a registry that is not there.
	s := startService(t, DatabaseSQLite, hookSrv.URL, `pipeline "offline" {
  template = "image.pkr.hcl"
  sign_key = "KEY"
  publish  = "127.0.0.1:1/bake-offline"
}`)

	resp, err := http.Get(s.url + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("the document without a token: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", s.url+"/api/v1/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer "+s.tokens[RoleViewer])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(raw, openAPI) {
		t.Fatal("the served document is not the embedded one")
	}
	a := newAPISpec(t, raw)
	a.check(t, "GET", "/api/v1/openapi.json", resp.StatusCode, resp.Header, raw)

	// Every operation: without a token (401 where documented), as a viewer
	// (403 where documented), and on a pipeline or run that does not exist
	// (404 where documented).
	missing := map[string]string{"name": "nope", "channel": "nightly", "id": "999999"}
	known := map[string]string{"name": "ok", "channel": "nightly", "id": "1"}
	for _, op := range a.operations() {
		m, tmpl := op[0], op[1]
		rs := a.responses(m, tmpl)
		if _, ok := rs["401"]; ok && tmpl != "/metrics" {
			if code, _ := a.request(t, s, m, tmpl, fill(tmpl, known), "", "", ""); code != 401 {
				t.Errorf("%s %s without a token: %d, want 401", m, tmpl, code)
			}
		}
		if _, ok := rs["403"]; ok {
			if code, _ := a.request(t, s, m, tmpl, fill(tmpl, known), RoleViewer, "", ""); code != 403 {
				t.Errorf("%s %s as a viewer: %d, want 403", m, tmpl, code)
			}
		}
		if _, ok := rs["404"]; ok {
			if code, _ := a.request(t, s, m, tmpl, fill(tmpl, missing), RoleOperator, "application/json", `{"version":"v"}`); code != 404 {
				t.Errorf("%s %s of something that does not exist: %d, want 404", m, tmpl, code)
			}
		}
	}

	// The live run stream, read while runs come and go.
	streamCtx, stopStream := context.WithCancel(context.Background())
	streamReq, _ := http.NewRequestWithContext(streamCtx, "GET", s.url+"/api/v1/stream", nil)
	streamReq.Header.Set("Authorization", "Bearer "+s.tokens[RoleViewer])
	streamResp, err := http.DefaultClient.Do(streamReq)
	if err != nil {
		t.Fatal(err)
	}
	var streamBody bytes.Buffer
	streamDone := make(chan struct{})
	go func() { io.Copy(&streamBody, streamResp.Body); close(streamDone) }()

	// A run that builds, publishes and promotes; one that fails; one
	// cancelled.
	code, body := a.request(t, s, "POST", "/api/v1/pipelines/{name}/runs", "/api/v1/pipelines/ok/runs", RoleOperator, "", "")
	var ok Run
	if code != 201 || json.Unmarshal(body, &ok) != nil {
		t.Fatalf("trigger: %d %s", code, body)
	}
	var other Run // a second version, for a rollback to go back to
	_, body = a.request(t, s, "POST", "/api/v1/pipelines/{name}/runs", "/api/v1/pipelines/ok/runs", RoleOperator, "", "")
	json.Unmarshal(body, &other)
	var bad, slow Run
	_, body = a.request(t, s, "POST", "/api/v1/pipelines/{name}/runs", "/api/v1/pipelines/broken/runs", RoleOperator, "", "")
	json.Unmarshal(body, &bad)
	_, body = a.request(t, s, "POST", "/api/v1/pipelines/{name}/runs", "/api/v1/pipelines/slow/runs", RoleOperator, "", "")
	json.Unmarshal(body, &slow)
	if code, _ := a.request(t, s, "POST", "/api/v1/runs/{id}/cancel", fmt.Sprintf("/api/v1/runs/%d/cancel", slow.ID), RoleOperator, "", ""); code != 202 {
		t.Errorf("cancel: %d, want 202", code)
	}
	s.waitStatus(t, slow.ID, 3*time.Minute, StatusCancelled)
	if code, _ := a.request(t, s, "POST", "/api/v1/runs/{id}/cancel", fmt.Sprintf("/api/v1/runs/%d/cancel", slow.ID), RoleOperator, "", ""); code != 409 {
		t.Errorf("cancel of an ended run: %d, want 409", code)
	}
	if r := s.waitStatus(t, ok.ID, 3*time.Minute, StatusSucceeded, StatusFailed); r.Status != StatusSucceeded {
		t.Fatalf("run %d: %s (%s)", ok.ID, r.Status, r.Error)
	}
	if r := s.waitStatus(t, other.ID, 3*time.Minute, StatusSucceeded, StatusFailed); r.Status != StatusSucceeded {
		t.Fatalf("run %d: %s (%s)", other.ID, r.Status, r.Error)
	}
	s.waitStatus(t, bad.ID, 3*time.Minute, StatusFailed)
	got, otherVersion := s.run(t, ok.ID), s.run(t, other.ID)
	waitFor(t, 30*time.Second, "webhook deliveries", func() bool {
		ds, _ := s.store.Deliveries(context.Background(), ok.ID)
		return len(ds) >= 2
	})

	run := func(p string) string { return fmt.Sprintf(p, ok.ID) }
	for _, c := range []struct{ method, tmpl, path, role, ctype, body string }{
		{"GET", "/healthz", "/healthz", "", "", ""},
		{"GET", "/metrics", "/metrics", "", "", ""},
		{"GET", "/api/v1/pipelines", "/api/v1/pipelines", RoleViewer, "", ""},
		{"GET", "/api/v1/runs", "/api/v1/runs", RoleViewer, "", ""},
		{"GET", "/api/v1/runs", "/api/v1/runs?pipeline=ok&limit=2", RoleViewer, "", ""},
		{"GET", "/api/v1/runs/{id}", run("/api/v1/runs/%d"), RoleViewer, "", ""},
		{"GET", "/api/v1/runs/{id}/events", run("/api/v1/runs/%d/events"), RoleViewer, "", ""},
		{"GET", "/api/v1/runs/{id}/events", run("/api/v1/runs/%d/events?after=2&limit=3"), RoleViewer, "", ""},
		{"GET", "/api/v1/runs/{id}/events", run("/api/v1/runs/%d/events?before=4&limit=2"), RoleViewer, "", ""},
		{"GET", "/api/v1/runs/{id}/events/stream", run("/api/v1/runs/%d/events/stream"), RoleViewer, "", ""},
		{"GET", "/api/v1/runs/{id}/artifacts", run("/api/v1/runs/%d/artifacts"), RoleViewer, "", ""},
		{"GET", "/api/v1/runs/{id}/deliveries", run("/api/v1/runs/%d/deliveries"), RoleViewer, "", ""},
		{"GET", "/api/v1/pipelines/{name}/channels", "/api/v1/pipelines/ok/channels", RoleViewer, "", ""},
		{"GET", "/api/v1/pipelines/{name}/channels/{channel}", "/api/v1/pipelines/ok/channels/nightly", RoleViewer, "", ""},
		{"POST", "/api/v1/pipelines/{name}/channels/{channel}/promote", "/api/v1/pipelines/ok/channels/staging/promote", RoleOperator, "application/json", `{"version":"` + got.Version + `","reason":"first"}`},
		{"POST", "/api/v1/pipelines/{name}/channels/{channel}/promote", "/api/v1/pipelines/ok/channels/staging/promote", RoleOperator, "application/x-www-form-urlencoded", "version=" + url.QueryEscape(otherVersion.Version) + "&reason=again"},
		{"POST", "/api/v1/pipelines/{name}/channels/{channel}/rollback", "/api/v1/pipelines/ok/channels/staging/rollback", RoleOperator, "application/json", `{"reason":"test"}`},
	} {
		if code, body := a.request(t, s, c.method, c.tmpl, c.path, c.role, c.ctype, c.body); code >= 300 {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, body)
		}
	}
	// Bad requests, what the registry does not have, pipelines that
	// publish nowhere, and a registry that is down.
	chans := "/api/v1/pipelines/{name}/channels"
	hist := chans + "/{channel}"
	for _, c := range []struct {
		method, tmpl, path, body string
		want                     int
	}{
		{"POST", hist + "/promote", "/api/v1/pipelines/ok/channels/staging/promote", `{"reason":"no version"}`, 400},
		{"POST", hist + "/promote", "/api/v1/pipelines/ok/channels/staging/promote", `{"version":`, 400},
		{"POST", hist + "/rollback", "/api/v1/pipelines/ok/channels/staging/rollback", `[`, 400},
		{"POST", hist + "/promote", "/api/v1/pipelines/ok/channels/staging/promote", `{"version":"never-published"}`, 404},
		{"POST", hist + "/rollback", "/api/v1/pipelines/ok/channels/nightly-2/rollback", `{}`, 404},
		{"GET", hist, "/api/v1/pipelines/ok/channels/nightly-2", "", 404},
		{"GET", chans, "/api/v1/pipelines/slow/channels", "", 409},
		{"GET", hist, "/api/v1/pipelines/slow/channels/nightly", "", 409},
		{"POST", hist + "/promote", "/api/v1/pipelines/slow/channels/nightly/promote", `{"version":"v"}`, 409},
		{"POST", hist + "/rollback", "/api/v1/pipelines/slow/channels/nightly/rollback", `{}`, 409},
		{"GET", chans, "/api/v1/pipelines/offline/channels", "", 502},
		{"GET", hist, "/api/v1/pipelines/offline/channels/nightly", "", 502},
		{"POST", hist + "/promote", "/api/v1/pipelines/offline/channels/nightly/promote", `{"version":"v"}`, 502},
		{"POST", hist + "/rollback", "/api/v1/pipelines/offline/channels/nightly/rollback", `{}`, 502},
		{"GET", "/api/v1/runs/{id}/events", fmt.Sprintf("/api/v1/runs/%d/events?before=last", got.ID), "", 400},
	} {
		role, ctype := RoleViewer, ""
		if c.method == "POST" {
			role, ctype = RoleOperator, "application/json"
		}
		if code, body := a.request(t, s, c.method, c.tmpl, c.path, role, ctype, c.body); code != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, code, body, c.want)
		}
	}

	stopStream()
	<-streamDone
	a.check(t, "GET", "/api/v1/stream", streamResp.StatusCode, streamResp.Header, streamBody.Bytes())

	// Every documented answer came up, but for these.
	cannot := map[string]string{
		"GET /metrics 401":                       "the test server does not set protect_metrics",
		"POST /api/v1/pipelines/{name}/runs 503": "only a draining server answers it (TestServeProcess drains)",
	}
	for _, op := range a.operations() {
		for status := range a.responses(op[0], op[1]) {
			k := op[0] + " " + op[1] + " " + status
			if status == "default" || cannot[k] != "" {
				continue
			}
			if !a.seen[k] {
				t.Errorf("documented but never seen: %s", k)
			}
		}
	}
}
