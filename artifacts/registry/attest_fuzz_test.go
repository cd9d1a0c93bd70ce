package registry

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bake-tool/bake/artifacts"
	"github.com/google/go-containerregistry/pkg/name"
)

const fuzzImage = "127.0.0.1:5000/app@sha256:1111111111111111111111111111111111111111111111111111111111111111"

// FuzzPushedImages: whatever a run manifest holds, the images it names
// for attaching are digest references whose digest the statement lists.
func FuzzPushedImages(f *testing.F) {
	key := genKey(f)
	f.Add(pushRunManifest(f, key, fuzzImage))
	f.Add(readSeed(f, "channel-record.sigstore.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		imgs, err := PushedImages(b)
		if err != nil {
			return
		}
		st, _, _ := inspectBundle(b)
		for _, img := range imgs {
			d, err := name.NewDigest(img)
			if err != nil {
				t.Fatalf("PushedImages gave %q, not a digest reference: %v", img, err)
			}
			if !hasSubject(st.Subject, d.DigestStr()) {
				t.Fatalf("PushedImages gave %q, whose digest is no subject", img)
			}
		}
	})
}

// FuzzCheckEnvelope: a layer of cosign's attestation tag is accepted only
// when it is the envelope signed by the key, about the image.
func FuzzCheckEnvelope(f *testing.F) {
	key := genKey(f)
	var b artifacts.Bundle
	if err := json.Unmarshal(pushRunManifest(f, key, fuzzImage), &b); err != nil {
		f.Fatal(err)
	}
	env, _ := json.Marshal(b.DSSEEnvelope)
	f.Add(env)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`))
	_, dig, _ := strings.Cut(fuzzImage, "@")
	f.Fuzz(func(t *testing.T, e []byte) {
		a, err := checkEnvelope(e, key.Public(), dig)
		if err != nil {
			return
		}
		var got artifacts.Envelope
		if json.Unmarshal(e, &got) != nil || string(got.Payload) != string(b.DSSEEnvelope.Payload) {
			t.Fatalf("accepted an envelope whose payload is not the signed one: %+v", a)
		}
	})
}
