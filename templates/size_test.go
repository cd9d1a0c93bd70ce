package templates

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{
		"512": 512 << 20, "512M": 512 << 20, "10G": 10 << 30, "1T": 1 << 40, "4096K": 4 << 20,
		"100B": 100, "10GiB": 10 << 30, " 2g ": 2 << 30, "0": 0,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"": "empty", "iB": "not a size", "Gib": "not a size", "-1G": "not a size", "ten": "not a size", "1.5G": "not a size",
		"10000000T": "too large", "9223372036854775807K": "too large",
	} {
		if _, err := ParseSize(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseSize(%q): err = %v, want %q", in, err, msg)
		}
	}
}

func TestSizeString(t *testing.T) {
	for n, want := range map[Size]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 541 << 20: "541.0 MiB",
		10 << 30: "10.0 GiB", 3 << 40: "3.0 TiB", 1<<63 - 1: "8.0 EiB",
	} {
		if got := n.String(); got != want {
			t.Errorf("Size(%d) = %q, want %q", int64(n), got, want)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512", "10G", "4096K", "100B", "10GiB", "-1", "1e9", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		if n.String() == "" {
			t.Fatal("empty String")
		}
	})
}
