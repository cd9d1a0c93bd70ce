package registry

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bake-tool/bake/artifacts"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var update = flag.Bool("update", false, "rewrite the fuzz seeds in testdata")

// TestSeeds writes the seeds the fuzz targets start from (with -update)
// and checks that they still decode.
func TestSeeds(t *testing.T) {
	if *update {
		key := genKey(t)
		pub, err := artifacts.MarshalPublicKey(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		d := "sha256:" + sum("1")
		rec := &ChannelRecord{Repository: "bake-test/golden", Channel: "prod", Version: "run-1", VersionDigest: d, Sequence: 2, Previous: "sha256:" + sum("2"),
			Time: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), By: "ci@builder", Reason: "nightly"}
		cb, err := signRecord(PredicateTypeChannel, "run-1", d, rec, key)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := signRecord(PredicateTypeRevocation, "run-1", d, &Revocation{Repository: "bake-test/golden", Version: "run-1", VersionDigest: d, BundleDigest: "sha256:" + sum("3"), Time: rec.Time, By: "sec", Reason: "CVE"}, key)
		if err != nil {
			t.Fatal(err)
		}
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: ArtifactTypeVersion, Config: ocispec.DescriptorEmptyJSON,
			Layers: []ocispec.Descriptor{{MediaType: artifacts.BundleMediaType, Digest: digestOf(cb), Size: int64(len(cb))}}}
		m.SchemaVersion = 2
		mb, _ := json.MarshalIndent(m, "", "  ")
		for name, data := range map[string][]byte{"key.pub": pub, "channel-record.sigstore.json": cb, "revocation.sigstore.json": rb, "version-manifest.json": mb} {
			if err := os.WriteFile(filepath.Join("testdata", name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	pub := seedKey(t)
	if _, err := DecodeChannelRecord(readSeed(t, "channel-record.sigstore.json"), pub); err != nil {
		t.Errorf("channel record seed: %v", err)
	}
	if _, err := DecodeRevocation(readSeed(t, "revocation.sigstore.json"), pub); err != nil {
		t.Errorf("revocation seed: %v", err)
	}
	if _, err := decodeManifest(readSeed(t, "version-manifest.json"), ArtifactTypeVersion); err != nil {
		t.Errorf("manifest seed: %v", err)
	}
}

func readSeed(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seedKey(t testing.TB) any {
	t.Helper()
	pub, err := artifacts.ParsePublicKey(readSeed(t, "key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func FuzzDecodeChannelRecord(f *testing.F) {
	f.Add(readSeed(f, "channel-record.sigstore.json"))
	f.Add(readSeed(f, "revocation.sigstore.json"))
	pub := seedKey(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, k := range []any{nil, pub} {
			rec, err := DecodeChannelRecord(b, k)
			if err == nil && (rec.Sequence == 0 || checkChannelName(rec.Channel) != nil) {
				t.Fatalf("accepted a record without sequence or channel: %+v", rec)
			}
		}
	})
}

func FuzzDecodeRevocation(f *testing.F) {
	f.Add(readSeed(f, "revocation.sigstore.json"))
	f.Add(readSeed(f, "channel-record.sigstore.json"))
	pub := seedKey(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, k := range []any{nil, pub} {
			rev, err := DecodeRevocation(b, k)
			if err == nil && !isDigest(rev.VersionDigest) {
				t.Fatalf("accepted a revocation without a version digest: %+v", rev)
			}
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add(readSeed(f, "version-manifest.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeManifest(b, "")
		if err == nil && len(m.Layers) != 1 {
			t.Fatalf("accepted %d layers", len(m.Layers))
		}
	})
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"127.0.0.1:5000/golden:prod", "registry.example.com/team/base@run-1", "localhost:5000/x@2026.11.30", "a/b:c:d", "x:prod", "@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseRef(s)
		if err != nil {
			return
		}
		if (ref.Channel == "") == (ref.Version == "") || ref.Repository == "" {
			t.Fatalf("ParseRef(%q) = %+v: want exactly one of channel and version, and a repository", s, ref)
		}
	})
}
