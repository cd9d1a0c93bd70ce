package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzChecksumFile feeds iso_checksum = "file:PATH" arbitrary checksum
// files (they come from the ISO's mirror): never a panic, and an entry
// found is for the ISO's name, with a hash type and a lower-case sum.
func FuzzChecksumFile(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  debian.iso\n", "debian.iso")
	f.Add("SHA256 (debian.iso) = ABCDEF\n# comment\n\n", "https://mirror/x/debian.iso?x=1")
	f.Add("d41d8cd98f00b204e9800998ecf8427e *debian.iso\r\n", "debian.iso")
	f.Add(" ( ) = \n", "")
	f.Fuzz(func(t *testing.T, data, iso string) {
		p := filepath.Join(t.TempDir(), "SHA256SUMS")
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		sum, err := parseChecksum(context.Background(), "file:"+p, iso)
		if err != nil {
			if !strings.Contains(err.Error(), "checksum file") {
				t.Fatalf("error does not name the checksum file: %v", err)
			}
			return
		}
		if sum.typ == "" || sum.hex != strings.ToLower(sum.hex) {
			t.Fatalf("accepted %+v", sum)
		}
	})
}
