package qemu

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// keys renders actions compactly: "a" a press, "A" shift+a, "+x"/"-x" a
// toggle down/up, "w1s" a wait.
func keys(acts []keyAction) string {
	var out []string
	for _, a := range acts {
		switch {
		case a.qcode == "":
			out = append(out, "w"+a.wait.String())
		case a.press && a.shift:
			out = append(out, "S-"+a.qcode)
		case a.press:
			out = append(out, a.qcode)
		case a.down:
			out = append(out, "+"+a.qcode)
		default:
			out = append(out, "-"+a.qcode)
		}
	}
	return strings.Join(out, " ")
}

func TestParseBootCommand(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ab1", "a b 1"},
		{"Hi!", "S-h i S-1"},
		{"a b-_=+", "a spc b minus S-minus equal S-equal"},
		{"<enter><return><esc><tab><bs><del><spacebar>", "ret ret esc tab backspace delete spc"},
		{"<insert><home><end><pageUp><pageDown><up><down><left><right>", "insert home end pgup pgdn up down left right"},
		{"<f1><F12><ENTER>", "f1 f12 ret"},
		{"<leftAltOn>x<leftAltOff><leftCtrlOn>c<leftCtrlOff><leftShiftOn>s<leftShiftOff>", "+alt x -alt +ctrl c -ctrl +shift s -shift"},
		{"<rightAltOn><rightCtrlOn><rightShiftOn><rightShiftOff>", "+alt_r +ctrl_r +shift_r -shift_r"},
		{"<wait><wait5><wait10><wait1m30s><wait250ms>", "w1s w5s w10s w1m30s w250ms"},
		{"<aOn><aOff><AOn><AOff>", "+a -a +shift +a -a -shift"},
		{"echo a < b > c", "e c h o spc a spc S-comma spc b spc S-dot spc c"},
		{"<>", "S-comma S-dot"},
		{"<a b>", "S-comma a spc b S-dot"},
		{"x<", "x S-comma"},
		{"\"'`~\\|[]{};:,./?", "S-apostrophe apostrophe grave_accent S-grave_accent backslash S-backslash bracket_left bracket_right S-bracket_left S-bracket_right semicolon S-semicolon comma dot slash S-slash"},
		{"a\nb", "a ret b"},
	} {
		acts, err := parseBootCommand(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := keys(acts); got != tc.want {
			t.Errorf("%q:\n got  %s\n want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseBootCommandErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<ender>", "at byte 1: unknown key <ender> (did you mean <enter>?)"},
		{"ok<pgup>", "at byte 3: unknown key <pgup>"},
		{"<waitlong>", "<waitlong> is not a wait"},
		{"<wait99999999>", "waits longer than 24h0m0s"},
		{"pässword", "at byte 2: character U+00E4 cannot be typed"},
		{"a\x01", "control character U+0001"},
		{"\xff", "invalid UTF-8"},
	} {
		_, err := parseBootCommand(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.in, err, tc.want)
		}
	}
	// The error never quotes the text around the mistake: it may be a
	// password.
	if _, err := parseBootCommand("s3cret-pw<entr>"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v quotes the command", err)
	}
}

func TestMaskTemplates(t *testing.T) {
	for in, want := range map[string]string{
		"url=http://{{ .HTTPIP }}:{{ .HTTPPort }}/<enter>": "url=http://xxxxxxxxxxxxx:xxxxxxxxxxxxxxx/<enter>",
		"no braces":    "no braces",
		"open {{ only": "open {{ only",
	} {
		if got := maskTemplates(in); got != want {
			t.Errorf("maskTemplates(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseBootCommand(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/bootcommand/*.txt")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			f.Add(l)
		}
	}
	f.Add("<leftCtrlOn>c<leftCtrlOff><wait1m30s>Ab<")
	f.Fuzz(func(t *testing.T, s string) {
		acts, err := parseBootCommand(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		for _, a := range acts {
			if a.qcode == "" && (a.wait < 0 || a.wait > maxWait) {
				t.Fatalf("wait %s out of range", a.wait)
			}
			if a.qcode != "" && a.wait != 0 {
				t.Fatalf("key with a wait: %+v", a)
			}
		}
		// Masking templates yields something that parses whenever the
		// rendered text would have.
		_, _ = parseBootCommand(maskTemplates(s))
	})
}

// fakeQMP is a QMP server on a unix socket that records the key events
// of each input-send-event; it answers everything else with an empty
// return.
type fakeQMP struct {
	path   string
	events chan []qmpKeyEvent
}

func newFakeQMP(t *testing.T) *fakeQMP {
	t.Helper()
	dir, err := os.MkdirTemp("", "bake-qmp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeQMP{path: filepath.Join(dir, "qmp.sock"), events: make(chan []qmpKeyEvent, 1000)}
	ln, err := net.Listen("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte(`{"QMP": {"version": {}, "capabilities": []}}` + "\n"))
				dec := json.NewDecoder(c)
				for {
					var req struct {
						Execute   string `json:"execute"`
						Arguments struct {
							Events []qmpKeyEvent `json:"events"`
						} `json:"arguments"`
					}
					if err := dec.Decode(&req); err != nil {
						return
					}
					if req.Execute == "input-send-event" {
						f.events <- req.Arguments.Events
						// An event in between, as qemu may send.
						c.Write([]byte(`{"event": "X", "timestamp": {}}` + "\n"))
					}
					c.Write([]byte(`{"return": {}}` + "\n"))
				}
			}()
		}
	}()
	return f
}

// got drains the events recorded so far, as "+qcode"/"-qcode" per event
// and "|" between commands.
func (f *fakeQMP) got() string {
	var out []string
	for {
		select {
		case evs := <-f.events:
			var cmd []string
			for _, e := range evs {
				sign := "-"
				if e.Data.Down {
					sign = "+"
				}
				if e.Type != "key" || e.Data.Key.Type != "qcode" {
					sign = "?"
				}
				cmd = append(cmd, sign+e.Data.Key.Data)
			}
			out = append(out, strings.Join(cmd, ","))
		default:
			return strings.Join(out, "|")
		}
	}
}

// TestTypeKeys types through a QMP connection and checks the events the
// monitor received: each press is down then up, shifted characters are
// wrapped in shift, toggles are one half, waits send nothing.
func TestTypeKeys(t *testing.T) {
	f := newFakeQMP(t)
	ctx := context.Background()
	q, err := dialQMP(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	acts, err := parseBootCommand("aB<wait10ms><leftCtrlOn>c<leftCtrlOff><enter>")
	if err != nil {
		t.Fatal(err)
	}
	if err := typeKeys(ctx, q, acts, 0, nil); err != nil {
		t.Fatal(err)
	}
	want := "+a|-a|+shift,+b|-b,-shift|+ctrl|+c|-c|-ctrl|+ret|-ret"
	if got := f.got(); got != want {
		t.Errorf("events:\n got  %s\n want %s", got, want)
	}

	// A cancelled context stops typing during a wait, sending no more keys.
	acts, _ = parseBootCommand("x<wait1m>y")
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- typeKeys(cctx, q, acts, 0, nil) }()
	<-f.events // x down
	cancel()
	if err := <-done; err == nil {
		t.Fatal("typing went on after cancel")
	}
	if got := f.got(); strings.Contains(got, "y") {
		t.Errorf("after cancel the monitor got %q", got)
	}
}

func TestBootSteps(t *testing.T) {
	c := Config{BootSteps: [][]string{{"<esc>", "menu"}, {"linux<enter>"}}}
	want := []bootStep{{"<esc>", "menu"}, {"linux<enter>", ""}}
	if got := c.bootSteps(); !reflect.DeepEqual(got, want) {
		t.Errorf("boot_steps: %+v", got)
	}
	c = Config{BootCommand: []string{"a", "<enter>"}}
	if got := c.bootSteps(); !reflect.DeepEqual(got, []bootStep{{"a<enter>", ""}}) {
		t.Errorf("boot_command: %+v", got)
	}
}
