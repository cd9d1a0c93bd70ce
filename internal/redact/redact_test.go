package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// testSecrets are the two values of issue 10's repro: a multi-line PEM
// key and a password with every quoting hazard.
func testSecrets(t testing.TB) (pem, password string) {
	t.Helper()
	k, err := os.ReadFile("testdata/key.pem")
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.ReadFile("testdata/password.txt")
	if err != nil {
		t.Fatal(err)
	}
	return string(k), string(p)
}

// bashQuote is what bash's printf %q makes of v.
func bashQuote(t *testing.T, v string) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", `printf %q "$V"`)
	cmd.Env = []string{"V=" + v}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash printf %%q: %v", err)
	}
	return string(out)
}

func jsonString(v string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func singleQuoted(v string) string { return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'" }

// TestEncodings redacts each way a value can be written out, alone and
// inside the error of a command that carried it.
func TestEncodings(t *testing.T) {
	pem, password := testSecrets(t)
	r := New([]string{pem, password})
	for _, v := range []struct{ name, value string }{{"pem", pem}, {"password", password}} {
		// As the shell provisioner ran it: the value single-quoted in
		// the command, which an error formatted with %q.
		cmdline := "chmod +x /tmp/s.sh; SECRET=" + singleQuoted(v.value) + " /tmp/s.sh"
		// As a wrapper would run that: sh -c and the command quoted again.
		nested := "sh -c " + singleQuoted("export SECRET="+singleQuoted(v.value)+"; sleep 30")
		forms := map[string]string{
			"literal":                 v.value,
			"trimmed":                 strings.TrimSpace(v.value),
			"go %q":                   fmt.Sprintf("%q", v.value),
			"go %+q":                  fmt.Sprintf("%+q", v.value),
			"go %q of []string":       fmt.Sprintf("%q", []string{"env", "SECRET=" + v.value}),
			"json":                    jsonString(v.value),
			"json of %q":              jsonString(fmt.Sprintf("%q", v.value)),
			"shell single '\\''":      singleQuoted(v.value),
			"shell single '\"'\"'":    "'" + strings.ReplaceAll(v.value, "'", `'"'"'`) + "'",
			"shell double":            `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`").Replace(v.value) + `"`,
			"bash printf %q":          bashQuote(t, v.value),
			"command line in %q":      fmt.Sprintf("run %q: signal: interrupt", cmdline),
			"command line in json %q": jsonString(fmt.Sprintf("run %q", cmdline)),
			"sh -c in %q":             fmt.Sprintf("run %q: signal: interrupt", nested),
			"base64 std":              base64.StdEncoding.EncodeToString([]byte(v.value)),
			"base64 std raw":          base64.RawStdEncoding.EncodeToString([]byte(v.value)),
			"base64 url":              base64.URLEncoding.EncodeToString([]byte(v.value)),
			"base64 url raw":          base64.RawURLEncoding.EncodeToString([]byte(v.value)),
		}
		for name, form := range forms {
			t.Run(v.name+"/"+name, func(t *testing.T) {
				got := r.String("before " + form + " after")
				if !strings.HasPrefix(got, "before ") || !strings.HasSuffix(got, " after") || !strings.Contains(got, Placeholder) {
					t.Fatalf("surrounding text not kept or nothing redacted: %q", got)
				}
				if strings.Contains(got, form) || strings.Contains(got, strings.TrimSpace(v.value)) {
					t.Errorf("value left in %q", got)
				}
				for _, line := range strings.Split(v.value, "\n") {
					if len(line) >= MinLength && strings.Contains(got, line) {
						t.Errorf("line %q left in %q", line, got)
					}
				}
			})
		}
	}
}

// TestBase64InsideLongerText: a value inside a longer base64 text (a
// script's `echo "$SECRET" | base64`, an uploaded file) leaves at most two
// bytes' worth of characters on either side of the redaction.
func TestBase64InsideLongerText(t *testing.T) {
	_, password := testSecrets(t)
	r := New([]string{password})
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
		for _, prefix := range []string{"", "a", "ab", "abc"} {
			for _, suffix := range []string{"", "\n", "xy\n"} {
				text := enc.EncodeToString([]byte(prefix + password + suffix))
				got := r.String(text)
				before, after, ok := strings.Cut(got, Placeholder)
				if !ok {
					t.Errorf("%q+value+%q: nothing redacted in %q", prefix, suffix, got)
					continue
				}
				// Characters of prefix and suffix, plus at most 3 on each
				// side that mix them with the value's edge bytes.
				if len(before) > len(prefix)*4/3+3 || len(after) > (len(suffix)*4+2)/3+4 {
					t.Errorf("%q+value+%q: %q left around the redaction", prefix, suffix, got)
				}
			}
		}
	}
}

// TestLineByLine: a script printing a key shows it one line per event;
// every line of the key long enough to be one is redacted.
func TestLineByLine(t *testing.T) {
	pem, _ := testSecrets(t)
	r := New([]string{pem})
	for _, line := range strings.Split(pem, "\n") {
		got := r.String(line)
		if len(strings.TrimSpace(line)) >= MinLength && got != Placeholder {
			t.Errorf("line %q printed as %q", line, got)
		}
		// Indented, as `sed 's/^/  /'` or a YAML block would print it.
		if got := r.String("    " + line); len(line) >= MinLength && got != "    "+Placeholder {
			t.Errorf("indented line %q printed as %q", line, got)
		}
	}
}

// TestShortValues: a value shorter than MinLength is redacted only where
// it stands as a whole word, so it does not destroy unrelated output.
func TestShortValues(t *testing.T) {
	for _, tc := range []struct {
		value, in, want string
	}{
		{"3", "43", "43"},
		{"3", "v3 and 3x", "v3 and 3x"},
		{"3", "3", Placeholder},
		{"3", "pin 3", "pin " + Placeholder},
		{"3", "pin=3, again 3.", "pin=" + Placeholder + ", again " + Placeholder + "."},
		{"3", `"3"`, `"` + Placeholder + `"`},
		{"3", "é3", "é3"},
		{"hunter2", "pw hunter2!", "pw " + Placeholder + "!"},
		{"hunter2", "xhunter2 hunter22", "xhunter2 hunter22"},
		{"pa'ss", "'pa'\\''ss'", "'" + Placeholder + "'"},
		// At MinLength bytes a value is redacted wherever it appears.
		{"12345678", "a12345678b", "a" + Placeholder + "b"},
		// Lines of a multi-line value shorter than MinLength are not
		// redacted on their own; the longer ones are.
		{"{\nlong-enough-line\n}", "{ and } and long-enough-line", "{ and } and " + Placeholder},
	} {
		if got := New([]string{tc.value}).String(tc.in); got != tc.want {
			t.Errorf("value %q: %q → %q, want %q", tc.value, tc.in, got, tc.want)
		}
	}
}

// TestBigValueLeavesPasswordNested: a big value full of quotes would
// use up the nested encodings; the password, shorter, still gets them,
// and the big value is still redacted as written, line by line and in
// one encoding.
func TestBigValueLeavesPasswordNested(t *testing.T) {
	_, password := testSecrets(t)
	var lines []string
	for i := 0; i < 200; i++ {
		lines = append(lines, fmt.Sprintf("%d: %s.", i, strings.Repeat(`"it's" \ `, 50)))
	}
	big := strings.Join(lines, "\n")
	r := New([]string{big, password})
	nested := fmt.Sprintf("%q", "PW="+singleQuoted(password))
	if got := r.String(nested); got != `"PW='`+Placeholder+`'"` {
		t.Errorf("%s → %s", nested, got)
	}
	unquote := func(q string) string { return q[1 : len(q)-1] }
	for _, text := range []string{big, lines[7], unquote(fmt.Sprintf("%q", big)), unquote(jsonString(big))} {
		if got := r.String("x " + text + " y"); got != "x "+Placeholder+" y" {
			t.Errorf("%.40q... → %.80q", text, got)
		}
	}
}

// TestLongestFirst: a value that contains another is redacted whole.
func TestLongestFirst(t *testing.T) {
	r := New([]string{"secret", "secret-and-more"})
	if got := r.String("x secret-and-more y secret z"); got != "x <sensitive> y <sensitive> z" {
		t.Errorf("got %q", got)
	}
}

func TestNothingToRedact(t *testing.T) {
	var nilR *Redactor
	for _, r := range []*Redactor{nilR, New(nil), New([]string{""})} {
		if got := r.String("unchanged 43"); got != "unchanged 43" {
			t.Errorf("got %q", got)
		}
		if !r.Empty() {
			t.Errorf("not empty")
		}
	}
}

// TestSecretPrintsRedacted: a Secret shows as <sensitive> however it is
// formatted or encoded.
func TestSecretPrintsRedacted(t *testing.T) {
	const v = "s3cr3t-value"
	s := Secret(v)
	var out []string
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s"} {
		out = append(out, fmt.Sprintf(verb, s))
	}
	out = append(out, fmt.Sprint(s), fmt.Sprintf("%v", []Secret{s}), fmt.Sprintf("%+v", struct{ P Secret }{s}),
		fmt.Sprintf("%#v", struct{ P Secret }{s}), fmt.Errorf("wrap: %w", fmt.Errorf("%v", s)).Error())
	j, _ := json.Marshal(map[string]Secret{"p": s})
	out = append(out, string(j))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "p", s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "p", s)
	out = append(out, buf.String())
	for _, o := range out {
		if strings.Contains(o, v) || strings.Contains(o, fmt.Sprintf("%x", v)) {
			t.Errorf("secret printed: %s", o)
		}
	}
	if s.Reveal() != v {
		t.Errorf("Reveal = %q", s.Reveal())
	}
	// The Redactor itself holds the values: printing it shows none.
	r := New([]string{v})
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if o := fmt.Sprintf(verb, r) + fmt.Sprintf(verb, *r); strings.Contains(o, v) {
			t.Errorf("%s of a Redactor printed the secret: %s", verb, o)
		}
	}
}

// FuzzString: whatever the value and the text around it, the value is
// not left in the output, and redaction never panics.
func FuzzString(f *testing.F) {
	pem, password := testSecrets(f)
	f.Add(pem, "key: ", "\n")
	f.Add(password, "PW='", "'")
	f.Add("3", "43 ", " 3")
	f.Add("hunter2", "pw ", "!")
	f.Fuzz(func(t *testing.T, value, before, after string) {
		r := New([]string{value})
		got := r.String(before + value + after)
		_ = r.String(before + after)
		if len(value) < MinLength || strings.ContainsAny(value, "<>") || strings.Contains(Placeholder, value) {
			return
		}
		if strings.Contains(got, value) {
			t.Errorf("value %q left in %q", value, got)
		}
		if q := fmt.Sprintf("%q", value); strings.Contains(r.String(before+q+after), q) {
			t.Errorf("%%q of %q left", value)
		}
	})
}

func BenchmarkString(b *testing.B) {
	pem, password := testSecrets(b)
	r := New([]string{pem, password})
	line := strings.Repeat("ordinary output of a build step, nothing secret in it. ", 1200) // 64 KiB
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		r.String(line)
	}
}
