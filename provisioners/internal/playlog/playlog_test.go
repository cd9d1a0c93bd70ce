package playlog

import "testing"

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
