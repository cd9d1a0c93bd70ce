package amazon

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

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
		{Name: "copy duration", Src: base + "ami_regions = [\"eu-west-1\"]\nsnapshot_copy_duration_minutes = 30"},
		{Src: base + "ami_regions = [\"eu-west-1\"]\nsnapshot_copy_duration_minutes = 20", Want: "a multiple of 15 from 15 to 2880, not 20", Line: 7},
		{Src: base + "snapshot_copy_duration_minutes = 15", Want: "applies to AMI copies", Line: 6, Warning: true},
		{Src: strings.Replace(base, "t3.micro", "m5.large", 1) + "enable_unlimited_credits = true", Want: `burstable instance types only (T2, T3, T3a, T4g), not "m5.large"`, Line: 6},
		{Src: base + "ssh_interface = \"session_manager\"", Want: "does not connect through AWS Session Manager", Line: 6},

		{Name: "spot", Src: base + "spot_price = \"auto\"\nspot_tags = { a = \"b\" }\nspot_allocation_strategy = \"price-capacity-optimized\""},
		{Name: "spot types", Src: strings.Replace(base, "instance_type = \"t3.micro\"\n", "", 1) + "spot_price = \"0.0104\"\nspot_instance_types = [\"t3.micro\", \"t3a.micro\"]"},
		{Src: base + "spot_price = \"cheap\"", Want: `"spot_price" is "auto" or a price in US dollars per hour like "0.0104", not "cheap"`, Line: 6},
		{Src: base + "spot_price = \"0\"", Want: `not "0"`, Line: 6},
		{Src: base + "spot_price = \"auto\"\nspot_instance_types = [\"t3.micro\"]", Want: `takes only one of "instance_type", "spot_instance_types"`, Line: 7},
		{Src: base + "spot_allocation_strategy = \"lowest-price\"", Want: `needs "spot_price"`, Line: 6},
		{Src: base + "spot_tags = { a = \"b\" }", Want: `"spot_tags" tag a spot request`, Line: 6, Warning: true},
		{Src: base + "spot_price = \"auto\"\nspot_allocation_strategy = \"cheapest\"", Want: `"spot_allocation_strategy"`, Line: 7},
		{Src: strings.Replace(base, "instance_type = \"t3.micro\"\n", "", 1) + "spot_price = \"auto\"\nspot_instance_types = [\"t3.micro\", \"t3.micro\"]", Want: `"t3.micro" is listed twice`, Line: 6},
		{Src: base + "spot_price = \"auto\"\nenable_unlimited_credits = true", Want: "cannot be used with a spot instance", Line: 7},

		{Name: "temporary profile", Src: base + policyBlock},
		{Src: base + "iam_instance_profile = \"builder\"\n" + policyBlock, Want: "Conflicting options", Line: 7},
		{Src: base + "temporary_iam_instance_profile_policy_document {\n  Version = \"2012-10-17\"\n}", Want: `needs at least one "Statement" block`, Line: 6},
		{Src: base + strings.Replace(policyBlock, `"Allow"`, `"allow"`, 1), Want: `Did you mean "Allow"?`, Line: 9},
		{Src: base + strings.Replace(policyBlock, `["logs:*"]`, `[]`, 1), Want: `"Action" is empty`, Line: 10},
		{Src: base + strings.Replace(policyBlock, `    Resource = ["*"]`+"\n", "", 1), Want: `needs the option "Resource"`, Line: 8},
		{Src: base + strings.Replace(policyBlock, `"2012-10-17"`, `"2012-10-18"`, 1), Want: `"Version"`, Line: 7},

		{Name: "assume role", Src: base + "assume_role {\n  role_arn = \"arn:aws:iam::123456789012:role/builder\"\n  session_name = \"ci-1\"\n  external_id = \"x-1\"\n  duration_seconds = 3600\n  tags = { a = \"b\" }\n}"},
		{Src: base + "assume_role {\n  session_name = \"ci\"\n}", Want: `needs the option "role_arn"`, Line: 6},
		{Src: base + "assume_role {\n  role_arn = \"builder\"\n}", Want: `"builder" is not a role ARN`, Line: 7},
		{Src: base + "assume_role {\n  role_arn = \"arn:aws:iam::123456789012:role/b\"\n  session_name = \"my session\"\n}", Want: `not "my session"`, Line: 8},
		{Src: base + "assume_role {\n  role_arn = \"arn:aws:iam::123456789012:role/b\"\n  duration_seconds = 60\n}", Want: "from 900 (15 minutes) to 43200 (12 hours), not 60", Line: 8},
		{Src: base + "assume_role {\n  role_arn = \"arn:aws:iam::123456789012:role/b\"\n  external_id = \"a b\"\n}", Want: `"external_id" is 2 to 1224`, Line: 8},
		{Name: "assume role session policies", Src: base + "assume_role {\n  role_arn = \"arn:aws:iam::123456789012:role/b\"\n  policy = \"{\\\"Version\\\": \\\"2012-10-17\\\", \\\"Statement\\\": []}\"\n  policy_arns = [\"arn:aws:iam::aws:policy/ReadOnlyAccess\"]\n  tags = { a = \"b\" }\n  transitive_tag_keys = [\"a\"]\n}"},
		{Src: base + "assume_role {\n  role_arn = \"arn:aws:iam::123456789012:role/b\"\n  policy = \"{not json\"\n}", Want: "not valid JSON", Line: 8},
		{Src: base + "assume_role {\n  role_arn = \"arn:aws:iam::123456789012:role/b\"\n  policy = \"{\\\"a\\\": \\\"" + strings.Repeat("x", 2100) + "\\\"}\"\n}", Want: "at most 2048 characters", Line: 8},
		{Src: base + "assume_role {\n  role_arn = \"arn:aws:iam::123456789012:role/b\"\n  policy_arns = [\"arn:aws:iam::aws:policy/A\", \"ReadOnlyAccess\"]\n}", Want: `"ReadOnlyAccess" is not a managed policy ARN`, Line: 8},
		{Src: base + "assume_role {\n  role_arn = \"arn:aws:iam::123456789012:role/b\"\n  tags = { a = \"b\" }\n  transitive_tag_keys = [\"a\", \"team\"]\n}", Want: `"team" is not a key of "tags"`, Line: 9},
	})
}

const policyBlock = `temporary_iam_instance_profile_policy_document {
  Version = "2012-10-17"
  Statement {
    Effect   = "Allow"
    Action   = ["logs:*"]
    Resource = ["*"]
  }
}
`

// TestTemporaryInstanceProfile: the instance runs with a temporary
// instance profile whose role has the policy written in the template;
// after the build, the role, its policy and the profile are gone.
func TestTemporaryInstanceProfile(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{ProfileLag: 2})
	cfg := e.config(t, "temp-profile", policyBlock)
	var during ec2test.IAMInventory
	var inst ec2test.Inventory
	ui := &testUI{t: t}
	art, err := newTestBuilder(cfg, builder.Options{RunID: "iam"}, fast).Build(context.Background(), ui, runCommands(t, func() {
		during, inst = e.ec2.IAM(), e.ec2.Inventory()
	}))
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(ui.lines, "\n"))
	}
	if n := strings.Count(strings.Join(ui.lines, "\n"), "EC2 does not know instance profile"); n != 2 {
		t.Errorf("%d launches refused for the new profile, want 2 (ProfileLag):\n%s", n, strings.Join(ui.lines, "\n"))
	}
	if len(during.Roles) != 1 || len(during.InstanceProfiles) != 1 {
		t.Fatalf("during provisioning: roles %+v, profiles %+v", during.Roles, during.InstanceProfiles)
	}
	role, profile := during.Roles[0], during.InstanceProfiles[0]
	if got := role.Policies[role.Name]; got != `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:*"],"Resource":["*"]}]}` {
		t.Errorf("role policy %q", got)
	}
	if !strings.Contains(role.AssumeRolePolicy, "ec2.amazonaws.com") || role.Tags[TagRunID] != "iam" || profile.Tags[TagRunID] != "iam" {
		t.Errorf("role %+v, profile %+v", role, profile)
	}
	if len(profile.Roles) != 1 || profile.Roles[0] != role.Name {
		t.Errorf("profile roles %v, want [%s]", profile.Roles, role.Name)
	}
	running := inst.InstancesIn("running")
	if len(running) != 1 || running[0].IAMInstanceProfile != profile.ARN {
		t.Errorf("running instances %+v, want one with profile %s", running, profile.ARN)
	}
	destroy(t, art, err)
	e.assertClean(t, "iam")
}

// TestSpotBuild: a spot build with IMDSv2 launches its instance through a
// launch template and an instant fleet, with the price, types, strategy
// and tags asked, and leaves neither the fleet nor the template.
func TestSpotBuild(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	hcl := strings.Replace(e.hcl("spot-build", `
spot_price = "0.0123"
spot_instance_types = ["t3a.micro", "t3.micro"]
spot_allocation_strategy = "capacity-optimized"
spot_tags = { request = "bake" }
run_tags = { purpose = "spot" }
metadata_options {
  http_tokens = "required"
  http_put_response_hop_limit = 1
}
`), "instance_type = \"t3.micro\"\n", "", 1)
	cfg := new(Config)
	configtest.MustPrepare(t, "amazon-ebs", hcl, cfg)
	var during ec2test.Inventory
	ui := &testUI{t: t}
	art, err := newTestBuilder(cfg, builder.Options{RunID: "spot"}, fast).Build(context.Background(), ui, runCommands(t, func() { during = e.ec2.Inventory() }))
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(ui.lines, "\n"))
	}
	running := during.InstancesIn("running")
	if len(running) != 1 {
		t.Fatalf("running during provisioning: %+v", running)
	}
	in := running[0]
	if !in.Spot || in.SpotMaxPrice != "0.0123" || in.InstanceType != "t3a.micro" || in.FleetID == "" {
		t.Errorf("instance: spot %v at %q, type %s, fleet %q; want spot at 0.0123, t3a.micro, from a fleet", in.Spot, in.SpotMaxPrice, in.InstanceType, in.FleetID)
	}
	if in.MetadataOptions["HttpTokens"] != "required" || in.MetadataOptions["HttpPutResponseHopLimit"] != "1" {
		t.Errorf("instance metadata options %v", in.MetadataOptions)
	}
	if in.Tags["purpose"] != "spot" || in.Tags[TagRunID] != "spot" || in.VolumeTags[TagRunID] != "spot" || in.SpotTags["request"] != "bake" || in.SpotTags[TagRunID] != "spot" {
		t.Errorf("instance tags %v, spot request tags %v", in.Tags, in.SpotTags)
	}
	if len(during.Fleets) != 1 || len(during.LaunchTemplates) != 1 {
		t.Fatalf("during provisioning: fleets %+v, launch templates %+v", during.Fleets, during.LaunchTemplates)
	}
	f := during.Fleets[0]
	if f.AllocationStrategy != "capacity-optimized" || strings.Join(f.InstanceTypes, ",") != "t3a.micro,t3.micro" || f.Tags[TagRunID] != "spot" {
		t.Errorf("fleet %+v", f)
	}
	if lt := during.LaunchTemplates[0]; lt.Tags[TagRunID] != "spot" || lt.Data["ImageId"] != e.newest {
		t.Errorf("launch template %+v", lt)
	}
	inv := e.ec2.Inventory()
	if len(inv.Instances) != 1 || inv.Instances[0].State != "terminated" {
		t.Errorf("instances after the build: %+v", inv.Instances)
	}
	destroy(t, art, err)
	e.assertClean(t, "spot")
}

// TestSpotNoCapacity: the fleet tries spot_instance_types in turn; one
// that launches nothing fails the build with EC2's reason, and its fleet
// and template are deleted.
func TestSpotNoCapacity(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{NoSpotCapacity: []string{"t3.micro", "t3a.micro"}})
	spot := func(types string) *Config {
		hcl := strings.Replace(e.hcl("spot-none", "spot_price = \"auto\"\nspot_instance_types = "+types), "instance_type = \"t3.micro\"\n", "", 1)
		cfg := new(Config)
		configtest.MustPrepare(t, "amazon-ebs", hcl, cfg)
		return cfg
	}
	_, err := newTestBuilder(spot(`["t3.micro", "t3a.micro"]`), builder.Options{RunID: "none"}, fast).Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
	if err == nil || !strings.Contains(err.Error(), "request spot instance (t3.micro, t3a.micro) in us-east-1: fleet") ||
		!strings.Contains(err.Error(), "launched none: InsufficientInstanceCapacity") {
		t.Errorf("err = %v, want the fleet's reason", err)
	}
	e.assertClean(t, "none")

	art, err := newTestBuilder(spot(`["t3.micro", "t3a.micro", "t2.micro"]`), builder.Options{RunID: "third"}, fast).Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, in := range e.ec2.Inventory().Instances {
		types = append(types, in.InstanceType)
	}
	if strings.Join(types, ",") != "t2.micro" {
		t.Errorf("instances of types %v, want one t2.micro", types)
	}
	destroy(t, art, err)
	e.assertClean(t, "third")
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
iam_instance_profile = "image-builder"
snapshot_copy_duration_minutes = 45
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
	if in.VolumeTags["disk"] != "scratch" || in.VolumeTags[TagRunID] != "opts" {
		t.Errorf("volume tags %v, want run_volume_tags and the run's", in.VolumeTags)
	}
	if in.IAMInstanceProfile != "arn:aws:iam::"+ec2test.DefaultAccount+":instance-profile/image-builder" {
		t.Errorf("instance profile %q, want image-builder's", in.IAMInstanceProfile)
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
		if img.Region == "eu-west-1" && img.CopyDurationMinutes != 45 {
			t.Errorf("copy %s: snapshot copy duration %d minutes, want 45", img.ID, img.CopyDurationMinutes)
		}
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

// lostIAM is an IAM client whose create calls make the resource and then
// lose the answer, so that the retry is refused as a duplicate.
type lostIAM struct {
	iamAPI
	role, profile bool
}

func (c *lostIAM) CreateRole(ctx context.Context, in *iam.CreateRoleInput, opts ...func(*iam.Options)) (*iam.CreateRoleOutput, error) {
	out, err := c.iamAPI.CreateRole(ctx, in, opts...)
	if err != nil || !c.role {
		return out, err
	}
	return c.iamAPI.CreateRole(ctx, in, opts...)
}

func (c *lostIAM) CreateInstanceProfile(ctx context.Context, in *iam.CreateInstanceProfileInput, opts ...func(*iam.Options)) (*iam.CreateInstanceProfileOutput, error) {
	out, err := c.iamAPI.CreateInstanceProfile(ctx, in, opts...)
	if err != nil || !c.profile {
		return out, err
	}
	return c.iamAPI.CreateInstanceProfile(ctx, in, opts...)
}

// TestIAMAnswerLost: a role or instance profile whose create answer was
// lost carries the build's tags and is removed; one of the same name
// without them (someone else's) is left alone.
func TestIAMAnswerLost(t *testing.T) {
	for _, tc := range []struct {
		name          string
		role, profile bool
	}{{"role", true, false}, {"instance profile", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, startSSHD(t), ec2test.Options{})
			b := newTestBuilder(e.config(t, "lost", policyBlock), builder.Options{RunID: "lost"}, fast)
			next := b.newIAM
			b.newIAM = func(ctx context.Context) (iamAPI, error) {
				c, err := next(ctx)
				return &lostIAM{iamAPI: c, role: tc.role, profile: tc.profile}, err
			}
			_, err := b.Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
			if err == nil || !strings.Contains(err.Error(), "is taken; bake deletes only the") {
				t.Fatalf("err = %v", err)
			}
			e.assertClean(t, "lost")
		})
	}
	t.Run("someone else's", func(t *testing.T) {
		e := newEnv(t, startSSHD(t), ec2test.Options{})
		b := newTestBuilder(e.config(t, "theirs", policyBlock), builder.Options{RunID: "theirs"}, fast)
		c, err := b.newIAM(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Their role takes the name just before the build's create call.
		b.newIAM = func(context.Context) (iamAPI, error) { return &preempted{iamAPI: c}, nil }
		_, err = b.Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
		if err == nil || !strings.Contains(err.Error(), "is taken") {
			t.Fatalf("err = %v", err)
		}
		roles := e.ec2.IAM().Roles
		if len(roles) != 1 || roles[0].Tags[TagRunID] != "" {
			t.Errorf("roles after the build: %+v, want theirs kept", roles)
		}
	})
}

// preempted creates an untagged role of the name first.
type preempted struct{ iamAPI }

func (c *preempted) CreateRole(ctx context.Context, in *iam.CreateRoleInput, opts ...func(*iam.Options)) (*iam.CreateRoleOutput, error) {
	if _, err := c.iamAPI.CreateRole(ctx, &iam.CreateRoleInput{RoleName: in.RoleName, AssumeRolePolicyDocument: in.AssumeRolePolicyDocument}); err != nil {
		return nil, err
	}
	return c.iamAPI.CreateRole(ctx, in, opts...)
}

// TestAssumeRole: with assume_role, bake asks STS for the role's
// credentials once, with the session options of the template, and makes
// every EC2 and IAM call with the assumed key.
func TestAssumeRole(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	cfg := e.config(t, "assumed", policyBlock+`
ami_regions = ["eu-west-1"]
assume_role {
  role_arn         = "arn:aws:iam::123456789012:role/image-builder"
  session_name     = "nightly-golden"
  external_id      = "bake-ci"
  duration_seconds = 1800
  tags             = { team = "platform", cost = "images" }
  transitive_tag_keys = ["team"]
  policy           = <<-EOT
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:*", "iam:*"], "Resource": "*"}]}
  EOT
  policy_arns      = ["arn:aws:iam::aws:policy/AmazonEC2FullAccess", "arn:aws:iam::123456789012:policy/bake-images"]
}
`)
	ui := &testUI{t: t}
	art, err := newTestBuilder(cfg, builder.Options{RunID: "assume"}, fast).Build(context.Background(), ui, runCommands(t, nil))
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(ui.lines, "\n"))
	}
	destroy(t, art, err)
	e.assertClean(t, "assume")

	sessions := e.ec2.IAM().Sessions
	if len(sessions) != 1 {
		t.Fatalf("%d AssumeRole calls, want 1: %+v", len(sessions), sessions)
	}
	sess := sessions[0]
	if sess.RoleARN != "arn:aws:iam::123456789012:role/image-builder" || sess.SessionName != "nightly-golden" ||
		sess.ExternalID != "bake-ci" || sess.DurationSeconds != 1800 || sess.Tags["team"] != "platform" || sess.Tags["cost"] != "images" {
		t.Errorf("AssumeRole call %+v", sess)
	}
	if want := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:*", "iam:*"], "Resource": "*"}]}` + "\n"; sess.Policy != want {
		t.Errorf("session policy %q, want %q", sess.Policy, want)
	}
	if want := []string{"arn:aws:iam::aws:policy/AmazonEC2FullAccess", "arn:aws:iam::123456789012:policy/bake-images"}; !slices.Equal(sess.PolicyARNs, want) {
		t.Errorf("session policy ARNs %q, want %q", sess.PolicyARNs, want)
	}
	if !slices.Equal(sess.TransitiveTagKeys, []string{"team"}) {
		t.Errorf("transitive tag keys %q, want [team]", sess.TransitiveTagKeys)
	}
	by := map[string]map[string]int{}
	for _, c := range e.ec2.Calls() {
		if by[c.Service] == nil {
			by[c.Service] = map[string]int{}
		}
		by[c.Service][c.AccessKey]++
	}
	if len(by["sts"]) != 1 || by["sts"]["AKIDBAKETEST"] != 1 {
		t.Errorf("STS calls by key %v, want one with the template's key", by["sts"])
	}
	for _, svc := range []string{"ec2", "iam"} {
		if len(by[svc]) != 1 || by[svc][sess.AccessKeyID] == 0 {
			t.Errorf("%s calls by key %v, want all with the assumed key %s", svc, by[svc], sess.AccessKeyID)
		}
	}
}
