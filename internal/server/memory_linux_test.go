package server

import (
	"encoding/json"
	"os"
	"testing"
)

// TestReleaseStartupPages checks what the idle RSS target relies on: the
// call lowers this process's resident pages of its executable, and the
// process goes on running code (and reading data) from those pages.
func TestReleaseStartupPages(t *testing.T) {
	before := procKB(os.Getpid(), "RssFile:")
	n, err := ReleaseStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	after := procKB(os.Getpid(), "RssFile:")
	if n == 0 || after >= before {
		t.Fatalf("released %d bytes of mappings; RssFile %d kB before, %d kB after: want it lower", n, before, after)
	}
	t.Logf("released %d MB of mappings; RssFile %d kB -> %d kB", n>>20, before, after)
	// Code and read-only data come back from the page cache.
	b, err := json.Marshal(map[string]any{"status": "succeeded", "n": 3})
	if err != nil || string(b) != `{"n":3,"status":"succeeded"}` {
		t.Fatalf("after the release: %s, %v", b, err)
	}
}

func TestReadOnlyRanges(t *testing.T) {
	maps := `00400000-02a4e000 r-xp 00000000 fe:00 10395774                           /usr/bin/bake
02a4e000-048cc000 r--p 0264e000 fe:00 10395774                           /usr/bin/bake
048cc000-049cb000 rw-p 044cc000 fe:00 10395774                           /usr/bin/bake
049cb000-04a00000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--s 00000000 fe:00 12                         /usr/bin/bake
7f0000002000-7f0000003000 r--p 00000000 fe:00 13                         /usr/bin/bake-other
7f0000004000-7f0000005000 r-xp 00000000 fe:00 14                         /opt/my bake (deleted)
garbage line
ffff-1 r--p 0 0 0 /usr/bin/bake
`
	got := readOnlyRanges(maps, "/usr/bin/bake")
	want := []addrRange{{0x400000, 0x2a4e000}, {0x2a4e000, 0x48cc000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %x, want %x", got, want)
	}
	// A binary replaced on disk since it started, with a space in its path.
	if got := readOnlyRanges(maps, "/opt/my bake (deleted)"); len(got) != 1 || got[0] != (addrRange{0x7f0000004000, 0x7f0000005000}) {
		t.Fatalf("deleted: got %x", got)
	}
}

func FuzzReadOnlyRanges(f *testing.F) {
	f.Add("00400000-02a4e000 r-xp 00000000 fe:00 1 /b\n", "/b")
	f.Add("0-1 rw-p 0 0 0 /b (deleted)\n", "/b")
	f.Fuzz(func(t *testing.T, maps, path string) {
		for _, r := range readOnlyRanges(maps, path) {
			if r.end <= r.start {
				t.Fatalf("empty range %x", r)
			}
		}
	})
}
