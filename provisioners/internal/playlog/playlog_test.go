package playlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTracker(t *testing.T) {
	tests := []struct{ out, want string }{
		{"PLAY [all] ***\n\nTASK [install] ******\nok: [a]\nfatal: [web1]: FAILED! => {\"msg\": \"x\"}\n", `task "install" failed on host web1`},
		{"TASK [Gathering Facts] ***\nfatal: [default]: UNREACHABLE! => {}\n", `host default unreachable in task "Gathering Facts"`},
		{"\x1b[0;31mTASK [a] ***\x1b[0m\n\x1b[0;31mfatal: [h]: FAILED! => {}\x1b[0m\n", `task "a" failed on host h`},
		{"RUNNING HANDLER [restart] ***\nfatal: [h]: FAILED! =>", ""}, // no newline yet
		{"TASK [ok] ***\nok: [h]\n", ""},
	}
	for _, tt := range tests {
		tr := &Tracker{}
		// Split writes mid-line, as a pipe does.
		for i := 0; i < len(tt.out); i += 7 {
			tr.Write([]byte(tt.out[i:min(i+7, len(tt.out))]))
		}
		if got := tr.Failure(); got != tt.want {
			t.Errorf("%q: Failure() = %q, want %q", tt.out, got, tt.want)
		}
	}
}

// FuzzTracker: any output, written in any pieces, neither panics nor
// makes Failure name a host that no fatal line named.
func FuzzTracker(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.txt")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(7))
	}
	f.Fuzz(func(t *testing.T, out []byte, chunk uint8) {
		n := int(chunk%64) + 1
		tr := &Tracker{}
		for i := 0; i < len(out); i += n {
			tr.Write(out[i:min(i+n, len(out))])
		}
		if got := tr.Failure(); got != "" && !strings.Contains(string(out), "fatal: [") {
			t.Errorf("Failure() = %q from output with no fatal line", got)
		}
	})
}
