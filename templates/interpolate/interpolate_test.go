package interpolate

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func testContext() *Context {
	return &Context{Now: time.Unix(1700000000, 0), BuildName: "golden", BuildType: "amazon-ebs",
		TemplateDir: "/t", WorkDir: "/w", Version: "1.9.4", NewUUID: func() string { return "u-u-i-d" }}
}

var amazonFields = Fields{"SourceAMI", "SourceAMIName", "SourceAMITags.*"}

var amazonData = map[string]any{"SourceAMI": "ami-1", "SourceAMIName": "ubuntu/22.04: lts",
	"SourceAMITags": map[string]string{"Name": "web"}}

// readCases reads a testdata file of tab-separated cases, skipping
// comments.
func readCases(t testing.TB, name string) [][]string {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, "\t"))
	}
	return out
}

func TestEval(t *testing.T) {
	for _, c := range readCases(t, "cases.txt") {
		t.Run(c[0], func(t *testing.T) {
			got, err := Eval(c[0], testContext())
			want := c[1]
			switch {
			case want == "?":
				if !errors.Is(err, ErrUnknown) {
					t.Fatalf("got %q, %v; want ErrUnknown", got, err)
				}
			case strings.HasPrefix(want, "!"):
				var ie *Error
				if !errors.As(err, &ie) || !strings.Contains(err.Error(), want[1:]) {
					t.Fatalf("got %q, %v; want an *Error containing %q", got, err, want[1:])
				}
				if err := Check(c[0], testContext(), nil); err == nil && !strings.Contains(want, "split") &&
					!strings.Contains(want, "isotime") && !strings.Contains(want, "too large") {
					t.Errorf("Check accepts what Eval refuses at parse time")
				}
			default:
				if err != nil || got != want {
					t.Fatalf("got %q, %v; want %q", got, err, want)
				}
			}
		})
	}
}

func TestPartialThenRender(t *testing.T) {
	for _, c := range readCases(t, "partial.txt") {
		t.Run(c[0], func(t *testing.T) {
			got, err := Partial(c[0], testContext(), amazonFields)
			if strings.HasPrefix(c[1], "!") {
				if err == nil || !strings.Contains(err.Error(), c[1][1:]) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, c[1][1:])
				}
				return
			}
			if err != nil || got != c[1] {
				t.Fatalf("Partial: got %q, %v; want %q", got, err, c[1])
			}
			want := ""
			if len(c) > 2 {
				want = c[2]
			}
			r, err := Render(got, amazonData)
			if err != nil || r != want {
				t.Fatalf("Render: got %q, %v; want %q", r, err, want)
			}
		})
	}
}

func TestUnknownUntilKnown(t *testing.T) {
	ctx := testContext()
	ctx.BuildName = ""
	if _, err := Eval("x-{{ build_name }}", ctx); !errors.Is(err, ErrUnknown) {
		t.Errorf("build_name before the build source is known: %v, want ErrUnknown", err)
	}
	ctx = testContext()
	ctx.BuildFields = Fields{"Host", "Port"}
	for _, s := range []string{`{{ build "Host" }}`, `{{ .Host }}`} {
		if _, err := Eval(s, ctx); !errors.Is(err, ErrUnknown) {
			t.Errorf("%s before the machine is up: %v, want ErrUnknown", s, err)
		}
	}
	ctx.Build = map[string]any{"Host": "10.0.0.1", "Port": "22"}
	for _, s := range []string{`{{ build "Host" }}:{{ .Port }}`, `{{ .Host }}:{{ build "Port" }}`} {
		if got, err := Eval(s, ctx); err != nil || got != "10.0.0.1:22" {
			t.Errorf("%s: %q, %v", s, got, err)
		}
	}
	if _, err := Eval(`{{ build "Nope" }}`, ctx); err == nil || !strings.Contains(err.Error(), `unknown value "Nope"`) {
		t.Errorf("build of an unknown name: %v", err)
	}
	// In a string the kind renders later, the build's values are filled in now.
	got, err := Partial(`{{ .Path }} on {{ .Host }}`, ctx, Fields{"Path"})
	if err != nil || got != `{{.Path}} on 10.0.0.1` {
		t.Errorf("Partial with build values: %q, %v", got, err)
	}
}

func TestLegacyJSONFunctions(t *testing.T) {
	ctx := testContext()
	ctx.UserVariables = map[string]string{"region": "eu-west-1"}
	ctx.Getenv = func(k string) string { return map[string]string{"HOME": "/root"}[k] }
	got, err := Eval("{{ user `region` }} {{ env `HOME` }}", ctx)
	if err != nil || got != "eu-west-1 /root" {
		t.Errorf("user and env: %q, %v", got, err)
	}
	if _, err := Eval("{{ user `nope` }}", ctx); err == nil || !strings.Contains(err.Error(), `no variable "nope"`) {
		t.Errorf("user of an undeclared variable: %v", err)
	}
}

func TestUUID(t *testing.T) {
	ctx := testContext()
	ctx.NewUUID = nil
	got, err := Eval("{{ uuid }}", ctx)
	if err != nil || len(got) != 36 || strings.Count(got, "-") != 4 {
		t.Fatalf("uuid: %q, %v", got, err)
	}
	if got2, _ := Eval("{{ uuid }}", ctx); got2 == got {
		t.Errorf("two uuids are equal: %s", got)
	}
}

func TestErrorsDoNotQuoteTheValue(t *testing.T) {
	const secret = "hunter2-very-secret"
	for _, s := range []string{
		"{{ nosuch \"" + secret + "\" }}",
		"{{ split \"" + secret + "\" \"-\" 9 }}",
		"{{ index \"" + secret + "\" 99 }}",
		secret + " {{ .Nope }}",
		"{{ \"" + secret + "\" | printf \"%d\" | lower | nosuch }}",
		"{{ " + secret,
	} {
		_, err := Eval(s, testContext())
		if err == nil {
			t.Errorf("no error for a wrong template")
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error quotes the value: %v", err)
		}
	}
}

func TestRenderBounded(t *testing.T) {
	s := `{{ replace_all "" "xxxxxxxxxxxxxxxx" (replace_all "" "xxxxxxxxxxxxxxxx" (replace_all "" "xxxxxxxxxxxxxxxx" (replace_all "" "xxxxxxxxxxxxxxxx" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"))) }}`
	if _, err := Eval(s, testContext()); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("a value growing without bound: %v", err)
	}
}
