package amazon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/bake-tool/bake/templates"
)

// TestPrepareRunOptions: the instance and AMI options of issue 12 are
// checked at validate, before any call to AWS.
func TestPrepareRunOptions(t *testing.T) {
	configtest.Run(t, "amazon-ebs", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "imdsv2", Src: base + "metadata_options {\n  http_endpoint = \"enabled\"\n  http_tokens = \"required\"\n  http_put_response_hop_limit = 2\n  instance_metadata_tags = \"enabled\"\n}\nimds_support = \"v2.0\""},
		{Name: "unlimited credits", Src: base + "enable_unlimited_credits = true"},
		{Name: "deprecate", Src: base + "deprecate_at = \"2027-01-02T15:04:05Z\""},
		{Src: base + "metadata_options {\n  http_tokens = \"requird\"\n}", Want: `Did you mean "required"?`, Line: 7},
		{Src: base + "metadata_options {\n  http_endpoint = \"on\"\n}", Want: `"http_endpoint"`, Line: 7},
		{Src: base + "metadata_options {\n  instance_metadata_tags = \"yes\"\n}", Want: `"instance_metadata_tags"`, Line: 7},
		{Src: base + "metadata_options {\n  http_put_response_hop_limit = 65\n}", Want: "from 1 to 64, not 65", Line: 7},
		{Src: base + "imds_support = \"v2\"", Want: `"imds_support"`, Line: 6},
		{Src: base + "deprecate_at = \"2027-01-02\"", Want: `"2027-01-02" is not an RFC 3339 time`, Line: 6},
		{Src: strings.Replace(base, "t3.micro", "m5.large", 1) + "enable_unlimited_credits = true", Want: `burstable instance types only (T2, T3, T3a, T4g), not "m5.large"`, Line: 6},
		{Src: base + "ssh_interface = \"session_manager\"", Want: "does not connect through AWS Session Manager", Line: 6},
	})
}

// TestRunOptions: a build with IMDSv2, unlimited credits, volume tags,
// snapshot groups and a deprecation time launches its instance and
// leaves its AMIs as asked, in every region.
func TestRunOptions(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	cfg := e.config(t, "run-options", `
ami_regions = ["eu-west-1"]
snapshot_groups = ["all"]
run_volume_tags = { disk = "scratch" }
enable_unlimited_credits = true
metadata_options {
  http_endpoint = "enabled"
  http_tokens = "required"
  http_put_response_hop_limit = 2
  instance_metadata_tags = "enabled"
}
imds_support = "v2.0"
deprecate_at = "2027-01-02T15:04:05Z"
`)
	ui := &testUI{t: t}
	art, err := newTestBuilder(cfg, builder.Options{RunID: "opts"}, fast).Build(context.Background(), ui, runCommands(t, nil))
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(ui.lines, "\n"))
	}
	inv := e.ec2.Inventory()
	if len(inv.Instances) != 1 {
		t.Fatalf("instances %+v", inv.Instances)
	}
	in := inv.Instances[0]
	want := map[string]string{"HttpEndpoint": "enabled", "HttpTokens": "required", "HttpPutResponseHopLimit": "2", "InstanceMetadataTags": "enabled"}
	for k, v := range want {
		if in.MetadataOptions[k] != v {
			t.Errorf("instance metadata options %v, want %s = %s", in.MetadataOptions, k, v)
		}
	}
	if in.CPUCredits != "unlimited" {
		t.Errorf("instance CPU credits %q, want unlimited", in.CPUCredits)
	}
	deprecate := time.Date(2027, 1, 2, 15, 4, 5, 0, time.UTC)
	amis := 0
	for _, img := range inv.Images {
		if img.Name != "run-options" {
			continue
		}
		amis++
		if img.IMDSSupport != "v2.0" || !img.DeprecationTime.Equal(deprecate) {
			t.Errorf("AMI %s in %s: imds support %q, deprecation %v", img.ID, img.Region, img.IMDSSupport, img.DeprecationTime)
		}
		for _, id := range img.BlockDevices {
			for _, sn := range inv.Snapshots {
				if sn.ID == id.SnapshotID && (len(sn.VolumeGroups) != 1 || sn.VolumeGroups[0] != "all") {
					t.Errorf("snapshot %s of AMI %s: volume groups %v, want [all]", sn.ID, img.ID, sn.VolumeGroups)
				}
			}
		}
	}
	if amis != 2 {
		t.Errorf("%d AMIs named run-options, want 2", amis)
	}
	destroy(t, art, err)
	e.assertClean(t, "opts")
}
