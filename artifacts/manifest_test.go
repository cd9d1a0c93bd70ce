package artifacts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// testRun is a run of three builds: a qemu build that made a disk file, a
// docker build that pushed an image, and an amazon-ebs build that failed
// after making an AMI in one region. It returns the builds and the disk's
// path.
func testRun(t *testing.T) (RunInfo, []BuildRecord, string) {
	t.Helper()
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.qcow2")
	if err := os.WriteFile(disk, []byte("qcow2 disk image content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	info := RunInfo{
		RunID:          "01JNRUN0000000000000000000",
		Bucket:         "web-base",
		CreatedAt:      t0.Add(10 * time.Minute),
		BakeVersion:    "1.0.0",
		TemplatePath:   "web.pkr.hcl",
		TemplateSHA256: strings.Repeat("ab", 32),
		Labels:         map[string]string{"team": "platform", "os": "debian"},
		Variables:      map[string]any{"region": "eu-west-1", "size": 10, "db_password": "hunter2"},
		Sensitive:      []string{"db_password"},
		Redact: func(s string) string {
			return strings.ReplaceAll(s, "hunter2", "<sensitive>")
		},
	}
	builds := []BuildRecord{
		{
			Name: "qemu.web", Builder: "qemu", Platform: "linux/amd64", Status: StatusSucceeded,
			Started: t0, Finished: t0.Add(5 * time.Minute),
			Parent: &Parent{DiskPath: "/var/cache/base.qcow2", DiskSHA256: strings.Repeat("cd", 32)},
			Artifacts: []*Artifact{{
				Builder: "qemu", Build: "qemu.web", ID: disk, Files: []string{disk},
				Items: []Item{{ExternalIdentifier: "disk.qcow2", Format: "qcow2", Path: disk}},
			}},
		},
		{
			Name: "docker.web", Builder: "docker", Platform: "linux/amd64", Status: StatusSucceeded,
			Started: t0, Finished: t0.Add(3 * time.Minute),
			Artifacts: []*Artifact{{
				Builder: "docker", Build: "docker.web", ID: "sha256:" + strings.Repeat("11", 32),
				Parent: &Parent{Ref: "debian:12", ImageDigest: "sha256:" + strings.Repeat("22", 32)},
				Items: []Item{{
					ExternalIdentifier: "registry.example/web",
					URI:                "registry.example/web@sha256:" + strings.Repeat("33", 32),
					Digest:             "sha256:" + strings.Repeat("33", 32),
					MediaType:          "application/vnd.oci.image.manifest.v1+json",
					Tags:               []string{"1.0", "latest"},
				}},
			}},
		},
		{
			Name: "amazon-ebs.web", Builder: "amazon-ebs", Status: StatusFailed,
			Err:     errors.New("wait for AMI ami-0abc: state failed (db password hunter2 rejected)"),
			Started: t0, Finished: t0.Add(8 * time.Minute),
			Parent: &Parent{SourceAMIs: map[string]string{"eu-west-1": "ami-0base"}},
			Artifacts: []*Artifact{{
				Builder: "amazon-ebs", Build: "amazon-ebs.web", ID: "eu-west-1:ami-0abc",
				Items: []Item{{
					ExternalIdentifier: "ami-0abc", Region: "eu-west-1",
					URI: "arn:aws:ec2:eu-west-1::image/ami-0abc",
				}},
			}},
		},
	}
	return info, builds, disk
}

func TestNewRunManifest(t *testing.T) {
	info, builds, disk := testRun(t)
	st, err := NewRunManifest(info, builds)
	if err != nil {
		t.Fatal(err)
	}
	diskSum := sha256.Sum256([]byte("qcow2 disk image content\n"))
	arnSum := sha256.Sum256([]byte("arn:aws:ec2:eu-west-1::image/ami-0abc"))
	// The failed build's AMI is listed under its build, but no subject.
	want := []Subject{
		{Name: "disk.qcow2", Digest: map[string]string{"sha256": hex.EncodeToString(diskSum[:])}},
		{Name: "registry.example/web@sha256:" + strings.Repeat("33", 32), Digest: map[string]string{"sha256": strings.Repeat("33", 32)}},
	}
	gotJSON, _ := json.Marshal(st.Subject)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("subjects:\n got %s\nwant %s", gotJSON, wantJSON)
	}

	p := st.Predicate
	if len(p.Builds) != 3 {
		t.Fatalf("got %d builds, want 3", len(p.Builds))
	}
	failed := p.Builds[2]
	if failed.Status != StatusFailed || !strings.Contains(failed.Error, "state failed") {
		t.Errorf("failed build recorded as %q with error %q", failed.Status, failed.Error)
	}
	if len(failed.Artifacts) != 1 || failed.Artifacts[0].Digest != "sha256:"+hex.EncodeToString(arnSum[:]) {
		t.Errorf("the failed build's AMI is not listed under it: %+v", failed.Artifacts)
	}
	if strings.Contains(failed.Error, "hunter2") {
		t.Errorf("failed build error not redacted: %q", failed.Error)
	}
	if _, ok := p.Variables["db_password"]; ok {
		t.Error("sensitive variable recorded in the manifest")
	}
	if got := p.Builds[1].Parent; got == nil || got.Ref != "debian:12" {
		t.Errorf("docker parent taken from the artifact: got %+v", got)
	}
	if it := p.Builds[0].Artifacts[0]; it.Size != int64(len("qcow2 disk image content\n")) || it.Digest != "sha256:"+hex.EncodeToString(diskSum[:]) {
		t.Errorf("file item not completed: %+v", it)
	}
	_ = disk

	// Deterministic: the same run gives the same bytes.
	a, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	st2, _ := NewRunManifest(info, builds)
	b, _ := st2.Marshal()
	if !bytes.Equal(a, b) {
		t.Error("two manifests of the same run differ")
	}

	// Golden file: the statement as the engine would sign it.
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, a, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden := filepath.Join("testdata", "statement.golden.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantGolden, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), wantGolden) {
		t.Errorf("statement differs from %s (go test -update to accept):\n%s", golden, pretty.Bytes())
	}
}

func TestNewRunManifestMissingFile(t *testing.T) {
	info, builds, disk := testRun(t)
	os.Remove(disk)
	st, err := NewRunManifest(info, builds)
	if err == nil || !strings.Contains(err.Error(), "disk.qcow2") {
		t.Fatalf("err = %v, want one naming the missing disk", err)
	}
	if st == nil || len(st.Predicate.Builds) != 3 || len(st.Subject) != 1 {
		t.Fatalf("manifest not complete apart from the missing file: %+v", st)
	}
}

// compilePredicateSchema compiles the embedded predicate schema.
func compilePredicateSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(PredicateSchemaV1))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("predicate.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("predicate.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// TestPredicateSchema validates real manifests, read back from signed
// bundles, against the schema in the repository, and checks that the
// schema does reject a broken predicate.
func TestPredicateSchema(t *testing.T) {
	sch := compilePredicateSchema(t)
	info, builds, _ := testRun(t)
	st, err := NewRunManifest(info, builds)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := GenerateKey(KeyECDSAP256)
	bundle, err := SignStatement(st, key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(bundle, key.Public(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(v.Statement.Predicate)

	cancelled := []BuildRecord{{Name: "docker.x", Builder: "docker", Status: StatusCancelled, Err: errors.New("context canceled")}}
	stCancelled, _ := NewRunManifest(RunInfo{RunID: "r", BakeVersion: "dev", TemplatePath: "x.hcl", TemplateSHA256: strings.Repeat("0", 64)}, cancelled)
	rawCancelled, _ := json.Marshal(stCancelled.Predicate)

	tested := []BuildRecord{{
		Name: "docker.t", Builder: "docker", Status: StatusFailed, Err: errors.New(`test "smoke" failed: exit status 3`),
		Untested: true,
		Tests: []TestRecord{
			{Name: "smoke", Type: "shell", Status: TestFailed, ExitStatus: 3, DurationSeconds: 0.25, OutputSHA256: strings.Repeat("a", 64), Error: "exit status 3"},
			{Name: "file", Type: "file", Status: TestSkipped, ExitStatus: -1},
		},
	}}
	stTested, _ := NewRunManifest(RunInfo{RunID: "r", BakeVersion: "dev", TemplatePath: "x.hcl", TemplateSHA256: strings.Repeat("0", 64)}, tested)
	stTested.Predicate.Builds[0].SBOM = &SBOMRef{Path: "m.docker.t.spdx.json", SHA256: strings.Repeat("b", 64),
		PredicateType: PredicateTypeSPDX, Bundle: "m.docker.t.spdx.sigstore.json", Packages: 91}
	rawTested, _ := json.Marshal(stTested.Predicate)
	if e := stTested.Predicate.Builds[0]; !e.Untested || len(e.Tests) != 2 || e.Tests[0].ExitStatus != 3 {
		t.Errorf("tests not carried into the entry: %+v", e)
	}
	if !bytes.Contains(rawTested, []byte(`"untested":true`)) || !bytes.Contains(rawTested, []byte(`"outputSha256":"aaaa`)) {
		t.Errorf("tests missing from the predicate JSON: %s", rawTested)
	}

	for name, data := range map[string][]byte{"three builds": raw, "cancelled": rawCancelled, "tested": rawTested} {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s: real predicate does not validate: %v", name, err)
		}
	}

	broken := map[string]func(m map[string]any){
		"failed build without error": func(m map[string]any) {
			delete(m["builds"].([]any)[2].(map[string]any), "error")
		},
		"unknown status": func(m map[string]any) {
			m["builds"].([]any)[0].(map[string]any)["status"] = "ok"
		},
		"bad digest": func(m map[string]any) {
			m["builds"].([]any)[0].(map[string]any)["artifacts"].([]any)[0].(map[string]any)["digest"] = "md5:1234"
		},
		"no fingerprint": func(m map[string]any) { delete(m, "fingerprint") },
		"unknown test status": func(m map[string]any) {
			m["builds"].([]any)[0].(map[string]any)["tests"] = []any{map[string]any{"name": "t", "type": "shell", "status": "ok", "exitStatus": 0, "durationSeconds": 1}}
		},
		"test without exit status": func(m map[string]any) {
			m["builds"].([]any)[0].(map[string]any)["tests"] = []any{map[string]any{"name": "t", "type": "shell", "status": "passed", "durationSeconds": 1}}
		},
		"sbom with a short digest": func(m map[string]any) {
			m["builds"].([]any)[0].(map[string]any)["sbom"] = map[string]any{"path": "m.b.spdx.json", "sha256": "abc", "predicateType": "https://spdx.dev/Document", "bundle": "m.b.spdx.sigstore.json", "packages": 3}
		},
	}
	for name, breakIt := range broken {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			json.Unmarshal(raw, &m)
			breakIt(m)
			b, _ := json.Marshal(m)
			inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err := sch.Validate(inst); err == nil {
				t.Error("schema accepted a broken predicate")
			}
		})
	}
}

func TestTemplateDigest(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.pkr.hcl")
	b := filepath.Join(dir, "b.pkr.hcl")
	os.WriteFile(a, []byte("a"), 0o644)
	os.WriteFile(b, []byte("b"), 0o644)
	one, err := TemplateDigest([]string{a})
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte("a")); one != hex.EncodeToString(sum[:]) {
		t.Errorf("one file: got %s", one)
	}
	two, _ := TemplateDigest([]string{b, a})
	sa, sb := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	list := hex.EncodeToString(sa[:]) + "  " + a + "\n" + hex.EncodeToString(sb[:]) + "  " + b + "\n"
	if sum := sha256.Sum256([]byte(list)); two != hex.EncodeToString(sum[:]) {
		t.Errorf("two files: got %s", two)
	}
}
