package amazon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/ec2test"
)

// The tests in this file check that a build deletes only what its own
// create calls made: a key pair, security group, AMI or snapshot that
// someone else owns survives the build, whatever happens to it.

// sdk returns an EC2 client of the env's server, for a test to act as
// another user of the account.
func (e *env) sdk(t *testing.T, region string) ec2API {
	t.Helper()
	c, err := newEC2(context.Background(), &AccessConfig{CustomEndpointEC2: e.ec2.URL, AccessKey: "AKIDOTHER", SecretKey: "s"}, region, fast)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// intercepted is an EC2 client whose create calls a test wraps.
type intercepted struct {
	ec2API
	createKeyPair func(ctx context.Context, in *ec2.CreateKeyPairInput, next ec2API) (*ec2.CreateKeyPairOutput, error)
	createGroup   func(ctx context.Context, in *ec2.CreateSecurityGroupInput, next ec2API) (*ec2.CreateSecurityGroupOutput, error)
	createLT      func(ctx context.Context, in *ec2.CreateLaunchTemplateInput, next ec2API) (*ec2.CreateLaunchTemplateOutput, error)
	createFleet   func(ctx context.Context, in *ec2.CreateFleetInput, next ec2API) (*ec2.CreateFleetOutput, error)
}

func (c *intercepted) CreateLaunchTemplate(ctx context.Context, in *ec2.CreateLaunchTemplateInput, opts ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateOutput, error) {
	if c.createLT == nil {
		return c.ec2API.CreateLaunchTemplate(ctx, in, opts...)
	}
	return c.createLT(ctx, in, c.ec2API)
}

func (c *intercepted) CreateFleet(ctx context.Context, in *ec2.CreateFleetInput, opts ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	if c.createFleet == nil {
		return c.ec2API.CreateFleet(ctx, in, opts...)
	}
	return c.createFleet(ctx, in, c.ec2API)
}

func (c *intercepted) CreateKeyPair(ctx context.Context, in *ec2.CreateKeyPairInput, opts ...func(*ec2.Options)) (*ec2.CreateKeyPairOutput, error) {
	if c.createKeyPair == nil {
		return c.ec2API.CreateKeyPair(ctx, in, opts...)
	}
	return c.createKeyPair(ctx, in, c.ec2API)
}

func (c *intercepted) CreateSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput, opts ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error) {
	if c.createGroup == nil {
		return c.ec2API.CreateSecurityGroup(ctx, in, opts...)
	}
	return c.createGroup(ctx, in, c.ec2API)
}

// intercept makes b's clients pass through wrap.
func intercept(b *Builder, wrap *intercepted) {
	next := b.newClient
	b.newClient = func(ctx context.Context, region string) (ec2API, error) {
		c, err := next(ctx, region)
		if err != nil {
			return nil, err
		}
		w := *wrap
		w.ec2API = c
		return &w, nil
	}
}

// assertNoneLive fails t if an instance of the build still runs.
func (e *env) assertNoneLive(t *testing.T) {
	t.Helper()
	if live := e.ec2.Inventory().InstancesIn("pending", "running", "stopping", "stopped"); len(live) > 0 {
		t.Errorf("instances left: %+v", live)
	}
}

// TestKeyPairNameTaken: temporary_key_pair_name names a key pair that
// exists. The build fails saying the name is taken, and the key pair is
// still there afterwards.
func TestKeyPairNameTaken(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	theirs, err := e.sdk(t, "us-east-1").CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("team-key"), KeyType: types.KeyTypeEd25519})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config(t, "kp-taken", `temporary_key_pair_name = "team-key"`)
	_, err = newTestBuilder(cfg, builder.Options{RunID: "kp"}, fast).Build(ctx, &testUI{t: t}, runCommands(t, nil))
	if err == nil || !strings.Contains(err.Error(), `key pair name "team-key" is taken in us-east-1`) {
		t.Errorf("err = %v, want one saying the key pair name is taken", err)
	}
	inv := e.ec2.Inventory()
	if len(inv.KeyPairs) != 1 || inv.KeyPairs[0].ID != aws.ToString(theirs.KeyPairId) {
		t.Fatalf("key pairs after the build: %+v, want the existing %s kept", inv.KeyPairs, aws.ToString(theirs.KeyPairId))
	}
	if len(inv.SecurityGroups) > 0 || len(inv.Instances) > 0 {
		t.Errorf("left: groups %+v, instances %+v", inv.SecurityGroups, inv.Instances)
	}

	// With -on-error=abort, the list of what was left behind, with the
	// commands that remove it, does not name their key pair either.
	var left []string
	opts := builder.Options{RunID: "kp-abort", OnError: builder.OnErrorAbort, Event: func(ev builder.StepEvent) {
		if ev.Phase == "left" {
			left = append(left, ev.Detail)
		}
	}}
	_, err = newTestBuilder(cfg, opts, fast).Build(ctx, &testUI{t: t}, runCommands(t, nil))
	if err == nil || strings.Contains(strings.Join(left, "\n"), "team-key") {
		t.Errorf("-on-error=abort: err %v, left %q", err, left)
	}
}

// TestGroupNameTaken: someone else creates a security group of the
// temporary group's name just before bake does. The build fails saying
// the name is taken, and their group is still there afterwards.
func TestGroupNameTaken(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	other := e.sdk(t, "us-east-1")
	var theirs string
	b := newTestBuilder(e.config(t, "sg-taken", ""), builder.Options{RunID: "sg"}, fast)
	intercept(b, &intercepted{createGroup: func(ctx context.Context, in *ec2.CreateSecurityGroupInput, next ec2API) (*ec2.CreateSecurityGroupOutput, error) {
		out, err := other.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: in.GroupName, Description: aws.String("someone else's"), VpcId: in.VpcId})
		if err != nil {
			return nil, err
		}
		theirs = aws.ToString(out.GroupId)
		return next.CreateSecurityGroup(ctx, in)
	}})
	_, err := b.Build(ctx, &testUI{t: t}, runCommands(t, nil))
	if err == nil || !strings.Contains(err.Error(), "is taken in us-east-1") || !strings.Contains(err.Error(), "security group name") {
		t.Errorf("err = %v, want one saying the security group name is taken", err)
	}
	inv := e.ec2.Inventory()
	if len(inv.SecurityGroups) != 1 || inv.SecurityGroups[0].ID != theirs {
		t.Fatalf("security groups after the build: %+v, want the existing %s kept", inv.SecurityGroups, theirs)
	}
	if len(inv.KeyPairs) > 0 || len(inv.Instances) > 0 {
		t.Errorf("left: key pairs %+v, instances %+v", inv.KeyPairs, inv.Instances)
	}
}

// TestCreateAnswerLost: a create call succeeds but its answer is lost and
// the retry is refused as a duplicate. What the first call made carries
// the build's tags, and the cleanup removes it.
func TestCreateAnswerLost(t *testing.T) {
	twice := func(call func() error) error {
		if err := call(); err != nil {
			return err
		}
		return call()
	}
	lost := errors.New("connection reset by peer")
	for _, tc := range []struct {
		name, extra, want string
		wrap              intercepted
	}{
		{"key pair", "", "is taken in us-east-1", intercepted{createKeyPair: func(ctx context.Context, in *ec2.CreateKeyPairInput, next ec2API) (*ec2.CreateKeyPairOutput, error) {
			return nil, twice(func() error { _, err := next.CreateKeyPair(ctx, in); return err })
		}}},
		{"security group", "", "is taken in us-east-1", intercepted{createGroup: func(ctx context.Context, in *ec2.CreateSecurityGroupInput, next ec2API) (*ec2.CreateSecurityGroupOutput, error) {
			return nil, twice(func() error { _, err := next.CreateSecurityGroup(ctx, in); return err })
		}}},
		{"launch template", `spot_price = "auto"`, "is taken in us-east-1", intercepted{createLT: func(ctx context.Context, in *ec2.CreateLaunchTemplateInput, next ec2API) (*ec2.CreateLaunchTemplateOutput, error) {
			return nil, twice(func() error { _, err := next.CreateLaunchTemplate(ctx, in); return err })
		}}},
		{"fleet", `spot_price = "auto"`, "connection reset by peer", intercepted{createFleet: func(ctx context.Context, in *ec2.CreateFleetInput, next ec2API) (*ec2.CreateFleetOutput, error) {
			if _, err := next.CreateFleet(ctx, in); err != nil {
				return nil, err
			}
			return nil, lost
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, startSSHD(t), ec2test.Options{})
			b := newTestBuilder(e.config(t, "lost", tc.extra), builder.Options{RunID: "lost"}, fast)
			intercept(b, &tc.wrap)
			_, err := b.Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v", err)
			}
			e.assertClean(t, "lost")
		})
	}
}

// TestAMINameTakenDuringBuild: another AMI takes ami_name after bake
// checked it. The build fails saying so and leaves that AMI alone, with
// force_deregister too: bake replaces only what it saw at its check.
func TestAMINameTakenDuringBuild(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	for i, extra := range []string{"", "force_deregister = true\nforce_delete_snapshot = true"} {
		t.Run(fmt.Sprintf("force=%v", extra != ""), func(t *testing.T) {
			var theirs string
			runID := fmt.Sprintf("race%d", i)
			name := "raced-" + runID
			opts := builder.Options{RunID: runID, Event: func(ev builder.StepEvent) {
				if ev.Step == "create AMI" && ev.Phase == "start" {
					theirs = e.ec2.AddImage("us-east-1", ec2test.Image{Name: name})
				}
			}}
			_, err := newTestBuilder(e.config(t, name, extra), opts, fast).Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("AMI name %q is taken in us-east-1", name)) {
				t.Errorf("err = %v, want one saying the AMI name is taken", err)
			}
			inv := e.ec2.Inventory()
			var kept bool
			for _, img := range inv.Images {
				kept = kept || img.ID == theirs && img.State == "available"
				if img.Tags[TagRunID] == runID {
					t.Errorf("AMI of the failed build left: %+v", img)
				}
			}
			if !kept {
				t.Errorf("the other AMI %s named %q is gone: %+v", theirs, name, inv.Images)
			}
			e.assertNoneLive(t)
		})
	}
}

// TestForeignSnapshotSurvives: ami_block_device_mappings adds a volume
// from a snapshot of the user's, which the AMI then refers to. Neither the
// cleanup of a failed build nor the artifact's Destroy deletes it, while
// the snapshots the build made go.
func TestForeignSnapshotSurvives(t *testing.T) {
	srv := startSSHD(t)
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			e := newEnv(t, srv, ec2test.Options{})
			data := e.ec2.AddSnapshot("us-east-1", ec2test.Snapshot{Description: "the team's data", VolumeSize: 20})
			cfg := e.config(t, "with-data", fmt.Sprintf(`ami_regions = ["us-west-2"]
ami_block_device_mappings {
  device_name = "/dev/sdf"
  snapshot_id = %q
  delete_on_termination = true
}`, data))
			if fail {
				e.ec2.Inject(ec2test.Fault{Action: "CopyImage", Code: "UnauthorizedOperation"})
			}
			runID := fmt.Sprintf("data-%v", fail)
			art, err := newTestBuilder(cfg, builder.Options{RunID: runID}, fast).Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
			if fail != (err != nil) {
				t.Fatalf("err = %v", err)
			}
			if !fail {
				var refers bool
				for _, img := range e.ec2.Inventory().ImagesTagged(TagRunID, runID) {
					for _, bd := range img.BlockDevices {
						refers = refers || bd.SnapshotID == data
					}
				}
				if !refers {
					t.Fatal("the AMI does not refer to the user's snapshot: the test tests nothing")
				}
			}
			destroy(t, art, err)
			e.assertClean(t, runID)
			if !slices.ContainsFunc(e.ec2.Inventory().Snapshots, func(sn ec2test.Snapshot) bool { return sn.ID == data }) {
				t.Errorf("the user's snapshot %s was deleted", data)
			}
		})
	}
}

// TestIPv6SourceCIDRs: IPv6 blocks in temporary_security_group_source_cidrs
// go to the rule's Ipv6Ranges, which is where EC2 takes them.
func TestIPv6SourceCIDRs(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	cfg := e.config(t, "ipv6", `skip_create_ami = true
temporary_security_group_source_cidrs = ["127.0.0.1/32", "2001:db8::/64", "::1/128"]`)
	var rules []ec2test.IPPermission
	during := func() {
		for _, g := range e.ec2.Inventory().SecurityGroups {
			if g.Tags[TagRunID] == "v6" {
				rules = g.Ingress
			}
		}
	}
	if _, err := newTestBuilder(cfg, builder.Options{RunID: "v6"}, fast).Build(context.Background(), &testUI{t: t}, runCommands(t, during)); err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 || !slices.Equal(rules[0].CIDRs, []string{"127.0.0.1/32"}) || !slices.Equal(rules[0].IPv6CIDRs, []string{"2001:db8::/64", "::1/128"}) ||
		rules[0].FromPort != e.sshd.Port {
		t.Fatalf("rules of the temporary group: %+v", rules)
	}
	e.assertClean(t, "v6")
}

// TestSourceAddressIPv6: the address check answers with an IPv6 address;
// the rule admits it as an IPv6 /128.
func TestSourceAddressIPv6(t *testing.T) {
	check := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "2001:db8::7")
	}))
	t.Cleanup(check.Close)
	b := New(&Config{AccessConfig: AccessConfig{Region: "us-east-1"}}, builder.Options{})
	b.checkIPURL = check.URL
	cidrs, err := b.sourceCIDRs(context.Background(), &state{})
	if err != nil {
		t.Fatal(err)
	}
	perm := sshIngress(22, cidrs)
	if len(perm.IpRanges) != 0 || len(perm.Ipv6Ranges) != 1 || aws.ToString(perm.Ipv6Ranges[0].CidrIpv6) != "2001:db8::7/128" {
		t.Fatalf("rule %+v for %q", perm, cidrs)
	}
}
