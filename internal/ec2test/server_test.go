package ec2test_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bake-tool/bake/internal/ec2test"
)

func client(s *ec2test.Server, region string) *ec2.Client {
	return ec2.New(ec2.Options{
		Region:           region,
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// waitFor polls until cond holds or a second passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	var launched []string
	s := ec2test.Start(t, ec2test.Options{OnLaunch: func(in ec2test.Instance, key string) { launched = append(launched, key) }})
	c := client(s, "eu-west-1")

	regions, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil || len(regions.Regions) != len(ec2test.DefaultRegions) {
		t.Fatalf("DescribeRegions: %v %+v", err, regions)
	}
	old := s.AddImage("eu-west-1", ec2test.Image{Name: "debian-12-amd64-20240101", Owner: "136693071363", CreationDate: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
	newest := s.AddImage("eu-west-1", ec2test.Image{Name: "debian-12-amd64-20240601", Owner: "136693071363", CreationDate: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)})
	s.AddImage("eu-west-1", ec2test.Image{Name: "ubuntu-24.04", Owner: "099720109477"})
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"136693071363"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"debian-12-*"}}}})
	if err != nil || len(imgs.Images) != 2 {
		t.Fatalf("DescribeImages: %v %+v", err, imgs)
	}
	for _, img := range imgs.Images {
		if *img.ImageId != old && *img.ImageId != newest || img.State != types.ImageStateAvailable || len(img.BlockDeviceMappings) != 1 {
			t.Fatalf("image %+v", img)
		}
	}
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0123456789abcdef0"}})
	if code(err) != "InvalidAMIID.NotFound" || status(err) != http.StatusBadRequest {
		t.Fatalf("missing image: %v", err)
	}
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"x"}}}})
	if code(err) != "InvalidParameterValue" {
		t.Fatalf("bad filter: %v", err)
	}

	kp, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k"), KeyType: types.KeyTypeEd25519})
	if err != nil || len(*kp.KeyMaterial) == 0 {
		t.Fatalf("CreateKeyPair: %v", err)
	}
	if _, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k")}); code(err) != "InvalidKeyPair.Duplicate" {
		t.Fatalf("duplicate key pair: %v", err)
	}
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("g"), Description: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []types.IpRange{{CidrIp: aws.String("127.0.0.1/32")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: &newest, InstanceType: types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		KeyName: aws.String("k"), SecurityGroupIds: []string{*sg.GroupId},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	if run.Instances[0].State.Name != types.InstanceStateNamePending || len(launched) != 1 || launched[0] == "" {
		t.Fatalf("launch: %+v %q", run.Instances[0].State, launched)
	}
	state := func() types.InstanceStateName {
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		in := out.Reservations[0].Instances[0]
		if *in.PublicIpAddress != "127.0.0.1" || in.Tags[0].Value == nil {
			t.Fatalf("instance %+v", in)
		}
		return in.State.Name
	}
	waitFor(t, "running", func() bool { return state() == types.InstanceStateNameRunning })
	if _, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: sg.GroupId}); code(err) != "InvalidGroup.InUse" {
		t.Fatalf("group in use: %v", err)
	}
	if _, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stopped", func() bool { return state() == types.InstanceStateNameStopped })

	s.SetDelays(ec2test.Delays{ImagePending: ec2test.Forever})
	ci, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: &id, Name: aws.String("mine"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSnapshot, Tags: []types.Tag{{Key: aws.String("s"), Value: aws.String("1")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: &id, Name: aws.String("mine")}); code(err) != "InvalidAMIName.Duplicate" {
		t.Fatalf("duplicate name: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*ci.ImageId}})
	if err != nil || out.Images[0].State != types.ImageStatePending {
		t.Fatalf("held image: %v %+v", err, out)
	}
	snap := *out.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId
	if _, err := c.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: ci.ImageId, SourceRegion: aws.String("eu-west-1"), Name: aws.String("mine")}); code(err) != "IncorrectState" {
		t.Fatalf("copy of pending image: %v", err)
	}
	s.SetDelays(ec2test.Delays{})
	waitFor(t, "image available", func() bool {
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*ci.ImageId}})
		return err == nil && out.Images[0].State == types.ImageStateAvailable
	})
	cp, err := client(s, "us-west-2").CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: ci.ImageId, SourceRegion: aws.String("eu-west-1"), Name: aws.String("mine"), Encrypted: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: &snap}); code(err) != "InvalidSnapshot.InUse" {
		t.Fatalf("snapshot in use: %v", err)
	}
	if _, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: ci.ImageId,
		LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String("210987654321")}, {Group: types.PermissionGroupAll}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: &snap, Attribute: types.SnapshotAttributeNameCreateVolumePermission,
		CreateVolumePermission: &types.CreateVolumePermissionModifications{Add: []types.CreateVolumePermission{{UserId: aws.String("210987654321")}}}}); err != nil {
		t.Fatal(err)
	}
	inv := s.Inventory()
	var mine, copied *ec2test.Image
	for i, img := range inv.Images {
		switch img.ID {
		case *ci.ImageId:
			mine = &inv.Images[i]
		case *cp.ImageId:
			copied = &inv.Images[i]
		}
	}
	if mine == nil || !mine.Public || len(mine.LaunchUsers) != 1 || copied == nil || copied.Region != "us-west-2" || !copied.BlockDevices[0].Encrypted {
		t.Fatalf("images: %+v %+v", mine, copied)
	}
	if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: ci.ImageId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: &snap}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "terminated", func() bool { return state() == types.InstanceStateNameTerminated })
	if _, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: sg.GroupId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	inv = s.Inventory()
	if len(inv.KeyPairs) != 0 || len(inv.SecurityGroups) != 0 || len(inv.InstancesIn("running", "stopped")) != 0 {
		t.Fatalf("left: %+v", inv)
	}
	if h := inv.Instances[0].History; len(h) != 6 || h[5] != "terminated" {
		t.Fatalf("history %q", h)
	}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	s := ec2test.Start(t, ec2test.Options{})
	c := client(s, "us-east-1")
	s.Inject(ec2test.Fault{Action: "DescribeRegions", Skip: 1, Times: 2, Code: "RequestLimitExceeded"})
	var codes []string
	for range 4 {
		_, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
		codes = append(codes, code(err))
		if err != nil && status(err) != http.StatusServiceUnavailable {
			t.Fatalf("status %d", status(err))
		}
	}
	if codes[0] != "" || codes[1] != "RequestLimitExceeded" || codes[2] != "RequestLimitExceeded" || codes[3] != "" {
		t.Fatalf("codes %q", codes)
	}
	if got := s.MaxCallsIn(time.Minute, ""); got != 4 {
		t.Fatalf("MaxCallsIn = %d", got)
	}
	// Region from the credential scope.
	s.AddImage("eu-central-1", ec2test.Image{Name: "x"})
	out, err := client(s, "eu-central-1").DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("%v %+v", err, out)
	}
	if _, err := client(s, "sa-east-1").DescribeImages(ctx, &ec2.DescribeImagesInput{}); code(err) != "AuthFailure" {
		t.Fatalf("unknown region: %v", err)
	}
}

// TestIngressAddressFamilies checks that the server takes IPv4 blocks in
// IpRanges and IPv6 blocks in Ipv6Ranges only, refusing the rest as EC2
// does, and that a refused request adds no rule.
func TestIngressAddressFamilies(t *testing.T) {
	ctx := context.Background()
	s := ec2test.Start(t, ec2test.Options{})
	c := client(s, "us-east-1")
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("g"), Description: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	authorize := func(v4, v6 []string) error {
		perm := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22)}
		for _, c := range v4 {
			perm.IpRanges = append(perm.IpRanges, types.IpRange{CidrIp: aws.String(c)})
		}
		for _, c := range v6 {
			perm.Ipv6Ranges = append(perm.Ipv6Ranges, types.Ipv6Range{CidrIpv6: aws.String(c)})
		}
		_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: []types.IpPermission{perm}})
		return err
	}
	for _, tc := range []struct {
		name   string
		v4, v6 []string
	}{
		{"IPv6 in IpRanges", []string{"2001:db8::/32"}, nil},
		{"IPv4 in Ipv6Ranges", nil, []string{"203.0.113.0/24"}},
		{"IPv4-mapped in Ipv6Ranges", nil, []string{"::ffff:203.0.113.7/128"}},
		{"not a block", []string{"203.0.113.7"}, nil},
		{"one good, one bad", []string{"203.0.113.0/24", "::/0"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := authorize(tc.v4, tc.v6)
			var ae smithy.APIError
			if code(err) != "InvalidParameterValue" || !errors.As(err, &ae) || !strings.Contains(ae.ErrorMessage(), "is malformed") {
				t.Fatalf("err = %v, want InvalidParameterValue: CIDR block … is malformed", err)
			}
		})
	}
	if err := authorize([]string{"203.0.113.0/24"}, []string{"2001:db8::/32"}); err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*sg.GroupId}})
	if err != nil {
		t.Fatal(err)
	}
	perms := out.SecurityGroups[0].IpPermissions
	if len(perms) != 1 || len(perms[0].IpRanges) != 1 || *perms[0].IpRanges[0].CidrIp != "203.0.113.0/24" ||
		len(perms[0].Ipv6Ranges) != 1 || *perms[0].Ipv6Ranges[0].CidrIpv6 != "2001:db8::/32" {
		t.Fatalf("rules %+v", perms)
	}
}

// TestCreateImageRefersToSnapshot checks that a CreateImage mapping of a
// device the instance lacks, from a snapshot, refers to that snapshot as
// EC2's does, rather than copying it.
func TestCreateImageRefersToSnapshot(t *testing.T) {
	ctx := context.Background()
	s := ec2test.Start(t, ec2test.Options{})
	c := client(s, "us-east-1")
	base := s.AddImage("us-east-1", ec2test.Image{Name: "base"})
	data := s.AddSnapshot("us-east-1", ec2test.Snapshot{Description: "data", VolumeSize: 20})
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: &base, InstanceType: types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := run.Instances[0].InstanceId
	waitFor(t, "running", func() bool {
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{*id}})
		return err == nil && out.Reservations[0].Instances[0].State.Name == types.InstanceStateNameRunning
	})
	mapping := func(snap string) []types.BlockDeviceMapping {
		return []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sdf"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}
	}
	if _, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: id, Name: aws.String("gone"), BlockDeviceMappings: mapping("snap-0123456789abcdef0")}); code(err) != "InvalidSnapshot.NotFound" {
		t.Fatalf("missing snapshot: %v", err)
	}
	before := len(s.Inventory().Snapshots)
	ci, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: id, Name: aws.String("with-data"), BlockDeviceMappings: mapping(data)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*ci.ImageId}})
	if err != nil {
		t.Fatal(err)
	}
	var snaps []string
	for _, m := range out.Images[0].BlockDeviceMappings {
		snaps = append(snaps, aws.ToString(m.Ebs.SnapshotId))
	}
	if len(snaps) != 2 || snaps[1] != data || snaps[0] == data {
		t.Fatalf("image snapshots %q, want a new root snapshot and %s", snaps, data)
	}
	if n := len(s.Inventory().Snapshots); n != before+1 {
		t.Fatalf("%d snapshots after CreateImage, want %d (the root's only)", n, before+1)
	}
}
