package amazon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/bake-tool/bake/provisioners"
)

// runCommands is a hook that runs real commands on the instance over SSH
// and checks their output.
func runCommands(t *testing.T, during func()) builder.Hook {
	return func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		if during != nil {
			during()
		}
		var out bytes.Buffer
		code, err := comm.Run(ctx, &provisioners.Cmd{Command: "echo provisioned as $(id -un) && uname -s", Stdout: &out})
		if err != nil {
			return err
		}
		if code != 0 || out.String() != "provisioned as root\nLinux\n" {
			return fmt.Errorf("command: status %d, output %q", code, out.String())
		}
		if info.Host != "127.0.0.1" || info.User != "root" || !strings.HasPrefix(info.SSHPublicKey, "ssh-ed25519 ") {
			return fmt.Errorf("build info %+v", info)
		}
		return nil
	}
}

func TestBuild(t *testing.T) {
	srv := startSSHD(t)
	e := newEnv(t, srv, ec2test.Options{Delays: ec2test.Delays{CopyPending: 300 * time.Millisecond}})
	cfg := e.config(t, "golden-debian", `
ami_description = "golden image"
ami_regions = ["us-west-2", "eu-west-1"]
ami_users = ["210987654321"]
ami_groups = ["all"]
snapshot_users = ["210987654321"]
tags = { Name = "golden", os = "debian" }
snapshot_tags = { kind = "root" }
run_tags = { purpose = "bake" }
`)
	opts := builder.Options{RunID: "run1", BuildID: "run1-amazon-ebs.golden"}
	var (
		mu      sync.Mutex
		elapsed = map[string]time.Duration{}
	)
	opts.Event = func(ev builder.StepEvent) {
		if ev.Phase == "done" {
			mu.Lock()
			elapsed[ev.Step] = ev.Elapsed
			mu.Unlock()
		}
	}
	var during ec2test.Inventory
	ui := &testUI{t: t}
	art, err := newTestBuilder(cfg, opts, fast).Build(context.Background(), ui, runCommands(t, func() { during = e.ec2.Inventory() }))
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(ui.lines, "\n"))
	}

	// While provisioning: one instance of the newest image, tagged, with the
	// temporary key pair and a group admitting SSH from loopback only.
	running := during.InstancesIn("running")
	if len(running) != 1 || running[0].ImageID != e.newest {
		t.Fatalf("running during provisioning: %+v (newest %s)", running, e.newest)
	}
	in := running[0]
	if in.Tags[TagRunID] != "run1" || in.Tags[TagBuild] != "amazon-ebs.golden" || in.Tags["purpose"] != "bake" {
		t.Errorf("instance tags %v", in.Tags)
	}
	if len(during.KeyPairs) != 1 || in.KeyName != during.KeyPairs[0].Name || during.KeyPairs[0].Tags[TagRunID] != "run1" {
		t.Errorf("key pairs %+v, instance key %q", during.KeyPairs, in.KeyName)
	}
	if len(during.SecurityGroups) != 1 || !slices.Equal(in.GroupIDs, []string{during.SecurityGroups[0].ID}) {
		t.Fatalf("groups %+v, instance groups %v", during.SecurityGroups, in.GroupIDs)
	}
	want := ec2test.IPPermission{Protocol: "tcp", FromPort: srv.Port, ToPort: srv.Port, CIDRs: []string{"127.0.0.1/32"}}
	if g := during.SecurityGroups[0]; len(g.Ingress) != 1 || fmt.Sprint(g.Ingress[0]) != fmt.Sprint(want) || g.Tags[TagRunID] != "run1" {
		t.Errorf("group %+v, want ingress %+v", g, want)
	}

	// Afterwards: nothing temporary left; an AMI per region.
	inv := e.ec2.Inventory()
	if len(inv.KeyPairs)+len(inv.SecurityGroups) != 0 || len(inv.InstancesIn("terminated")) != 1 || len(inv.Instances) != 1 {
		t.Errorf("left behind: %+v %+v %+v", inv.KeyPairs, inv.SecurityGroups, inv.Instances)
	}
	if h := inv.Instances[0].History; !slices.Equal(h, []string{"pending", "running", "stopping", "stopped", "shutting-down", "terminated"}) {
		t.Errorf("instance went through %v", h)
	}
	amis := inv.ImagesTagged(TagRunID, "run1")
	if len(amis) != 3 {
		t.Fatalf("AMIs of the run: %+v", amis)
	}
	regions := map[string]ec2test.Image{}
	for _, img := range amis {
		regions[img.Region] = img
		if img.Name != "golden-debian" || img.State != "available" || img.Description != "golden image" ||
			img.Tags["Name"] != "golden" || img.Tags["os"] != "debian" || !img.Public || !slices.Equal(img.LaunchUsers, []string{"210987654321"}) {
			t.Errorf("AMI %+v", img)
		}
	}
	snaps := map[string]ec2test.Snapshot{}
	for _, sn := range inv.Snapshots {
		snaps[sn.ID] = sn
	}
	for _, img := range amis {
		for _, bd := range img.BlockDevices {
			sn := snaps[bd.SnapshotID]
			if sn.Tags["kind"] != "root" || sn.Tags[TagRunID] != "run1" || !slices.Equal(sn.VolumeUsers, []string{"210987654321"}) {
				t.Errorf("snapshot of %s: %+v", img.ID, sn)
			}
		}
	}
	if regions["us-west-2"].SourceImageID != regions["us-east-1"].ID || regions["eu-west-1"].SourceImageID != regions["us-east-1"].ID {
		t.Errorf("copies: %+v", regions)
	}
	// Two copies of 300ms each, in parallel.
	if d := elapsed["copy AMI to regions"]; d >= 550*time.Millisecond {
		t.Errorf("copies took %s: not parallel", d)
	}

	// The artifact: one AMI per region, build region first.
	if art == nil || len(art.Items) != 3 {
		t.Fatalf("artifact %+v", art)
	}
	for i, r := range []string{"us-east-1", "us-west-2", "eu-west-1"} {
		it := art.Items[i]
		if it.Region != r || it.ExternalIdentifier != regions[r].ID || it.URI != "arn:aws:ec2:"+r+"::image/"+regions[r].ID {
			t.Errorf("item %d: %+v", i, it)
		}
	}
	wantID := fmt.Sprintf("us-east-1:%s,us-west-2:%s,eu-west-1:%s", regions["us-east-1"].ID, regions["us-west-2"].ID, regions["eu-west-1"].ID)
	if art.ID != wantID || art.Parent.SourceAMIs["us-east-1"] != e.newest || art.State["snapshots:us-west-2"] == "" {
		t.Errorf("artifact %s, parent %+v, state %v", art.ID, art.Parent, art.State)
	}

	// Destroy removes the AMIs and their snapshots.
	if err := art.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.assertClean(t, "run1")
}

func TestMultipleMatchesWithoutMostRecent(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	cfg := e.config(t, "x-y-z", "")
	cfg.SourceAMIFilter.MostRecent = false
	_, err := newTestBuilder(cfg, builder.Options{RunID: "r"}, fast).Build(context.Background(), &testUI{t: t}, nil)
	if err == nil || !strings.Contains(err.Error(), "3 AMIs match filters {name=debian-12-amd64-*} and owners 136693071363 in us-east-1") ||
		!strings.Contains(err.Error(), "set most_recent = true") {
		t.Fatalf("err = %v", err)
	}
	e.assertClean(t, "r")
}

func TestWaitGivesUp(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	e.ec2.SetDelays(ec2test.Delays{ImagePending: ec2test.Forever})
	cfg := e.config(t, "never-ready", "")
	cfg.Polling = &Polling{DelaySeconds: 3, MaxAttempts: 6}
	_, err := newTestBuilder(cfg, builder.Options{RunID: "r2"}, fast).Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
	if err == nil {
		t.Fatal("build succeeded")
	}
	var pending []string
	for _, c := range e.ec2.Calls() {
		if c.Action == "CreateImage" {
			pending = append(pending, c.Action)
		}
	}
	msg := err.Error()
	if !strings.Contains(msg, "create AMI: AMI ami-") || !strings.Contains(msg, " in us-east-1 still pending after 6 attempts (") || len(pending) != 1 {
		t.Fatalf("err = %v", err)
	}
	t.Log(msg)
	e.assertClean(t, "r2")
}

func TestThrottlingAbsorbed(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	for _, a := range []string{"DescribeImages", "RunInstances", "CreateImage"} {
		e.ec2.Inject(ec2test.Fault{Action: a, Times: 5, Code: "RequestLimitExceeded"})
	}
	cfg := e.config(t, "throttled", "")
	art, err := newTestBuilder(cfg, builder.Options{RunID: "r3"}, fast).Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
	if err != nil || art == nil {
		t.Fatalf("build: %v", err)
	}
	throttled := map[string]int{}
	for _, c := range e.ec2.Calls() {
		if c.Code == "RequestLimitExceeded" {
			throttled[c.Action]++
		}
	}
	if throttled["DescribeImages"] != 5 || throttled["RunInstances"] != 5 || throttled["CreateImage"] != 5 {
		t.Fatalf("throttled %v", throttled)
	}
}

func TestSharedBudget(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	// Polls 1ms apart would flood the server without the budget.
	budget := tuning{maxBackoff: 5 * time.Millisecond, pollUnit: time.Millisecond, rate: 20, burst: 5}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	start := time.Now()
	for i := range 3 {
		cfg := e.config(t, fmt.Sprintf("parallel-%d", i), `ami_regions = ["us-west-2"]`)
		wg.Go(func() {
			_, errs[i] = newTestBuilder(cfg, builder.Options{RunID: "r4", BuildID: fmt.Sprintf("r4-amazon-ebs.b%d", i)}, budget).
				Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	calls := e.ec2.Calls()
	for _, r := range []string{"us-east-1", "us-west-2"} {
		peak := e.ec2.MaxCallsIn(time.Second, r)
		t.Logf("%s: peak %d calls/s", r, peak)
		if peak > 20+5 {
			t.Errorf("%s: %d calls in one second, over the budget of 20/s with bursts of 5", r, peak)
		}
	}
	t.Logf("%d calls in %s", len(calls), time.Since(start).Round(time.Millisecond))
	if peak := e.ec2.MaxCallsIn(time.Second, "us-east-1"); peak < 15 {
		t.Errorf("peak of %d calls/s: the builds never pressed on the budget", peak)
	}
	inv := e.ec2.Inventory()
	if len(inv.InstancesIn("terminated")) != 3 || len(inv.KeyPairs)+len(inv.SecurityGroups) != 0 || len(inv.ImagesTagged(TagRunID, "r4")) != 6 {
		t.Errorf("inventory after the builds: %+v", inv)
	}
}

func TestForceDeregister(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	first := e.config(t, "same-name", "")
	if _, err := newTestBuilder(first, builder.Options{RunID: "a"}, fast).Build(context.Background(), &testUI{t: t}, runCommands(t, nil)); err != nil {
		t.Fatal(err)
	}
	old := e.ec2.Inventory().ImagesTagged(TagRunID, "a")
	if len(old) != 1 {
		t.Fatalf("first build's AMIs: %+v", old)
	}

	again := e.config(t, "same-name", "")
	_, err := newTestBuilder(again, builder.Options{RunID: "b"}, fast).Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
	if err == nil || !strings.Contains(err.Error(), `AMI name "same-name" is already used by `+old[0].ID+" in us-east-1: set force_deregister = true") {
		t.Fatalf("err = %v", err)
	}

	forced := e.config(t, "same-name", "force_deregister = true\nforce_delete_snapshot = true")
	if _, err := newTestBuilder(forced, builder.Options{RunID: "c"}, fast).Build(context.Background(), &testUI{t: t}, runCommands(t, nil)); err != nil {
		t.Fatal(err)
	}
	inv := e.ec2.Inventory()
	if imgs := inv.ImagesTagged(TagRunID, "a"); len(imgs) != 0 || len(inv.ImagesTagged(TagRunID, "c")) != 1 {
		t.Fatalf("images after force_deregister: %+v", inv.Images)
	}
	for _, sn := range inv.Snapshots {
		if sn.ID == old[0].BlockDevices[0].SnapshotID {
			t.Errorf("old snapshot %s kept", sn.ID)
		}
	}
}

func TestEncryptBoot(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	cfg := e.config(t, "encrypted", `encrypt_boot = true
kms_key_id = "alias/bake"
ami_regions = ["eu-west-1"]
region_kms_key_ids = { "eu-west-1" = "alias/bake-eu" }`)
	art, err := newTestBuilder(cfg, builder.Options{RunID: "enc"}, fast).Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	inv := e.ec2.Inventory()
	imgs := inv.ImagesTagged(TagRunID, "enc")
	if len(imgs) != 2 || len(art.Items) != 2 {
		t.Fatalf("AMIs %+v", imgs)
	}
	keys := map[string]string{}
	for _, img := range imgs {
		if img.Name != "encrypted" || !img.BlockDevices[0].Encrypted {
			t.Errorf("AMI %+v", img)
		}
		keys[img.Region] = img.BlockDevices[0].KMSKeyID
	}
	if keys["us-east-1"] != "alias/bake" || keys["eu-west-1"] != "alias/bake-eu" {
		t.Errorf("keys %v", keys)
	}
	// The unencrypted intermediate AMI and its snapshot are gone.
	for _, sn := range inv.Snapshots {
		if sn.Tags[TagRunID] == "enc" && !sn.Encrypted {
			t.Errorf("unencrypted snapshot left: %+v", sn)
		}
	}
}

func TestGroupReleasedLate(t *testing.T) {
	// Real VPCs answer DependencyViolation while the instance shuts down.
	e := newEnv(t, startSSHD(t), ec2test.Options{GroupInUseCode: "DependencyViolation",
		Delays: ec2test.Delays{InstanceShuttingDown: 200 * time.Millisecond}})
	cfg := e.config(t, "skip", "skip_create_ami = true")
	b := newTestBuilder(cfg, builder.Options{RunID: "late"}, fast)
	// Terminate returns at once, so the group is deleted while the
	// instance shuts down.
	b.cfg.Polling = &Polling{DelaySeconds: 5, MaxAttempts: 100}
	art, err := b.Build(context.Background(), &testUI{t: t}, runCommands(t, nil))
	if err != nil || art != nil {
		t.Fatalf("build: %v, %v", art, err)
	}
	e.assertClean(t, "late")
}

func TestExecuteAMIData(t *testing.T) {
	e := newEnv(t, startSSHD(t), ec2test.Options{})
	cfg := &AMIDataConfig{
		AMIFilter:    AMIFilter{Filters: map[string]string{"name": "debian-12-amd64-*"}, Owners: []string{debianOwner}, MostRecent: true},
		AccessConfig: AccessConfig{Region: "us-east-1", CustomEndpointEC2: e.ec2.URL, AccessKey: "AKID", SecretKey: "s"},
	}
	v, err := ExecuteAMIData(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Type().Equals(AMIDataType) {
		t.Fatalf("type %#v", v.Type())
	}
	if id := v.GetAttr("id").AsString(); id != e.newest || v.GetAttr("name").AsString() != "debian-12-amd64-20240610-2" ||
		v.GetAttr("owner").AsString() != debianOwner || v.GetAttr("architecture").AsString() != "x86_64" {
		t.Fatalf("value %#v", v)
	}
	cfg.MostRecent = false
	if _, err := ExecuteAMIData(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "3 AMIs match") {
		t.Fatalf("err = %v", err)
	}
	cfg.Filters["name"] = "ubuntu-*"
	if _, err := ExecuteAMIData(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "no AMI matches filters {name=ubuntu-*}") {
		t.Fatalf("err = %v", err)
	}
}
