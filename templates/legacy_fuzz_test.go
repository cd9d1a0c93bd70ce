package templates_test

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadLegacyJSON loads one legacy JSON template (a .json file that is
// not *.pkr.json) with every real kind and a JSON var file, and renders
// the diagnostics: no panic, every diagnostic shown at its JSON position.
func FuzzLoadLegacyJSON(f *testing.F) {
	for _, b := range fixtureFiles(f, ".json") {
		f.Add(b)
	}
	seeds, _ := filepath.Glob("legacyjson/testdata/*.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fuzzLoad(t, map[string][]byte{
			"t/template.json": src,
			"t/vars.json":     []byte(`{"channel": "stable", "region": "eu-west-1"}`),
		}, "t/template.json", "t/vars.json")
	})
}
