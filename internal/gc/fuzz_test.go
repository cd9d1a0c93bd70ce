package gc

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzJournal feeds arbitrary journal files to the reader: a journal cut
// short by a crash, or damaged, must read without panicking, and only
// absolute paths may come out of it as places to remove.
func FuzzJournal(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/journal/*.jsonl")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseJournal("0123456789ab", bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, p := range append(r.Pending, r.Kept...) {
			if !filepath.IsAbs(p.Path) {
				t.Fatalf("relative place %q", p.Path)
			}
		}
		if r.Live && r.PID <= 0 {
			t.Fatalf("live with pid %d", r.PID)
		}
	})
}

func TestJournalSeeds(t *testing.T) {
	j := Journal{Dir: "testdata/journal"}
	runs, err := j.Runs()
	if err != nil {
		t.Fatal(err)
	}
	c := runs["crashed"]
	if !c.Crashed() || len(c.Pending) != 0 || len(c.Kept) != 1 || c.Kept[0].Path != "/srv/out/output-a" || c.PID != 999999999 {
		t.Errorf("crashed: %+v", c)
	}
	if l := runs["library"]; l.Crashed() || l.Begun || len(l.Kept) != 1 {
		t.Errorf("a journal nobody began cannot be known to have crashed: %+v", l)
	}
	e := runs["ended"]
	if e.Crashed() || !e.Ended || len(e.Pending) != 1 {
		t.Errorf("ended: %+v", e)
	}
}
