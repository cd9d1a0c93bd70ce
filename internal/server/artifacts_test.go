package server

import (
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
)

// bundleOf wraps a statement as a run manifest bundle's payload.
func bundleOf(statement string) []byte {
	return []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payloadType":"application/vnd.in-toto+json","payload":"` +
		base64.StdEncoding.EncodeToString([]byte(statement)) + `","signatures":[]}}`)
}

// TestParseRunArtifacts checks what the artifacts page is made of, and
// that a bad manifest or SBOM is refused saying which and why.
func TestParseRunArtifacts(t *testing.T) {
	none := func(string) ([]byte, error) { return nil, os.ErrNotExist }
	good := bundleOf(`{"_type":"https://in-toto.io/Statement/v1","predicate":{"builds":[{"name":"docker.base","builder":"docker","status":"succeeded",
		"artifacts":[{"externalIdentifier":"sha256:ab","digest":"sha256:ab"}],"tests":[{"name":"smoke","type":"shell","status":"passed","exitStatus":0,"durationSeconds":1}]}]}}`)
	a, err := parseRunArtifacts("m.json", good, none)
	if err != nil || len(a.Builds) != 1 || a.Builds[0].Artifacts[0].Digest != "sha256:ab" || a.Builds[0].Tests[0].Status != "passed" || a.Builds[0].SBOM != nil {
		t.Fatalf("good manifest: %+v %v", a, err)
	}
	for _, c := range []struct{ name, data, want string }{
		{"not JSON", "{", "m.json: not a run manifest bundle"},
		{"no envelope", `{}`, "m.json: not a run manifest bundle"},
		{"bad base64", `{"dsseEnvelope":{"payload":"%%%"}}`, "m.json: not a run manifest bundle: illegal base64"},
		{"not a statement", `{"dsseEnvelope":{"payloadType":"text/plain","payload":""}}`, `m.json: not a run manifest bundle (payload type "text/plain")`},
		{"no predicate", string(bundleOf(`{"_type":"x"}`)), "m.json: statement: not a run manifest"},
	} {
		if _, err := parseRunArtifacts("m.json", []byte(c.data), none); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// An SBOM outside the manifest's directory is not read; one whose
	// digest differs is refused; the builds are listed all the same.
	for _, c := range []struct{ path, want string }{
		{"../../etc/passwd", `SBOM path "../../etc/passwd": not a file beside the manifest`},
		{"/etc/passwd", `SBOM path "/etc/passwd": not a file beside the manifest`},
		{"b.spdx.json", "SBOM b.spdx.json has sha256"},
	} {
		data := bundleOf(`{"predicate":{"builds":[{"name":"docker.base","sbom":{"path":"` + c.path + `","sha256":"00"}}]}}`)
		a, err := parseRunArtifacts("m.json", data, func(string) ([]byte, error) { return []byte("{}"), nil })
		if err == nil || !strings.Contains(err.Error(), "build docker.base: "+c.want) || a == nil || len(a.Builds) != 1 {
			t.Errorf("SBOM %s: %v, want %q", c.path, err, c.want)
		}
	}
	if _, err := parseRunArtifacts("m.json", bundleOf(`{"predicate":{"builds":[{"name":"b","sbom":{"path":"x.json"}}]}}`), none); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing SBOM: %v", err)
	}
}

// FuzzParseRunArtifacts: whatever the manifest holds, parsing returns
// (never panics), and a result has a builds list.
func FuzzParseRunArtifacts(f *testing.F) {
	f.Add([]byte(`{"dsseEnvelope":{"payload":""}}`))
	f.Add(bundleOf(`{"predicate":{"builds":[{"name":"b","sbom":{"path":"s.json","sha256":"x"},"steps":[{"step":"shell","status":"reused"}]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, _ := parseRunArtifacts("m.json", data, func(string) ([]byte, error) { return []byte(`{"spdxVersion":"SPDX-2.3"}`), nil })
		if a != nil && a.Builds == nil {
			t.Fatal("nil builds")
		}
	})
}
