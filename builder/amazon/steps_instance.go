package amazon

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	gossh "golang.org/x/crypto/ssh"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/communicator/ssh"
)

// precheck checks that the regions exist and that ami_name is free in
// each of them (or that force_deregister, or -force, may replace it).
func (b *Builder) precheck(ctx context.Context, s *state) error {
	c, err := b.client(ctx, b.cfg.Region)
	if err != nil {
		return err
	}
	s.ec2 = c
	if !b.cfg.SkipRegionValidation {
		out, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("list regions: %w", err)
		}
		known := map[string]bool{}
		for _, r := range out.Regions {
			known[aws.ToString(r.RegionName)] = true
		}
		for _, r := range b.regions() {
			if !known[r] {
				return fmt.Errorf("region %s does not exist or is not enabled for this account", r)
			}
		}
	}
	if b.cfg.SkipCreateAMI {
		return nil
	}
	for _, r := range b.regions() {
		rc, err := b.client(ctx, r)
		if err != nil {
			return err
		}
		out, err := rc.DescribeImages(ctx, &ec2.DescribeImagesInput{
			Owners:  []string{"self"},
			Filters: []types.Filter{{Name: aws.String("name"), Values: []string{b.cfg.AMIName}}},
		})
		if err != nil {
			return fmt.Errorf("look for AMIs named %q in %s: %w", b.cfg.AMIName, r, err)
		}
		for _, img := range out.Images {
			if aws.ToString(img.Name) != b.cfg.AMIName {
				continue // force_deregister replaces that name only
			}
			if !b.cfg.ForceDeregister && !b.opts.Force {
				return fmt.Errorf("AMI name %q is already used by %s in %s: set force_deregister = true (or run with -force) to replace it",
					b.cfg.AMIName, aws.ToString(img.ImageId), r)
			}
			s.existing[r] = append(s.existing[r], aws.ToString(img.ImageId))
		}
	}
	return nil
}

// findSource resolves source_ami or source_ami_filter.
func (b *Builder) findSource(ctx context.Context, s *state) error {
	if b.cfg.SourceAMI != "" {
		out, err := s.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{b.cfg.SourceAMI}})
		if err != nil {
			return fmt.Errorf("source AMI %s in %s: %w", b.cfg.SourceAMI, b.cfg.Region, err)
		}
		if len(out.Images) != 1 {
			return fmt.Errorf("source AMI %s not found in %s", b.cfg.SourceAMI, b.cfg.Region)
		}
		s.source = out.Images[0]
	} else {
		img, err := findAMI(ctx, s.ec2, b.cfg.SourceAMIFilter, b.cfg.Region)
		if err != nil {
			return err
		}
		s.source = img
	}
	if st := s.source.State; st != types.ImageStateAvailable {
		return fmt.Errorf("source AMI %s in %s is %s, not available", aws.ToString(s.source.ImageId), b.cfg.Region, st)
	}
	if err := b.renderTemplates(s.source); err != nil {
		return err
	}
	s.ui.Say(fmt.Sprintf("source AMI: %s (%s)", aws.ToString(s.source.ImageId), aws.ToString(s.source.Name)))
	return nil
}

// findAMI returns the AMI that f selects in region: the only match, or
// the newest with most_recent.
func findAMI(ctx context.Context, c ec2API, f *AMIFilter, region string) (types.Image, error) {
	in := &ec2.DescribeImagesInput{Owners: f.Owners}
	for _, k := range sortedKeys(f.Filters) {
		in.Filters = append(in.Filters, types.Filter{Name: aws.String(k), Values: []string{f.Filters[k]}})
	}
	out, err := c.DescribeImages(ctx, in)
	if err != nil {
		return types.Image{}, fmt.Errorf("find AMI in %s: %w", region, err)
	}
	desc := fmt.Sprintf("filters %s and owners %s in %s", describeFilters(f.Filters), strings.Join(f.Owners, ", "), region)
	switch n := len(out.Images); {
	case n == 0:
		return types.Image{}, fmt.Errorf("no AMI matches %s", desc)
	case n > 1 && !f.MostRecent:
		var ids []string
		for _, img := range out.Images {
			ids = append(ids, aws.ToString(img.ImageId))
		}
		sort.Strings(ids)
		return types.Image{}, fmt.Errorf("%d AMIs match %s (%s): set most_recent = true or narrow the filters", n, desc, strings.Join(ids, ", "))
	}
	imgs := out.Images
	sort.SliceStable(imgs, func(i, j int) bool {
		return creation(imgs[i]).After(creation(imgs[j]))
	})
	return imgs[0], nil
}

func creation(img types.Image) time.Time {
	t, _ := time.Parse(time.RFC3339, aws.ToString(img.CreationDate))
	return t
}

func describeFilters(f map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(f) {
		parts = append(parts, k+"="+f[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func filtersOf(m map[string]string) []types.Filter {
	var out []types.Filter
	for _, k := range sortedKeys(m) {
		out = append(out, types.Filter{Name: aws.String(k), Values: []string{m[k]}})
	}
	return out
}

// findNetwork resolves vpc_id/vpc_filter, subnet_id/subnet_filter and
// security_group_filter. With none of them the instance goes to the
// default VPC.
func (b *Builder) findNetwork(ctx context.Context, s *state) error {
	s.vpcID, s.subnetID, s.az = b.cfg.VPCID, b.cfg.SubnetID, b.cfg.AvailabilityZone
	s.groupIDs = slices.Clone(b.cfg.SecurityGroupIDs)
	if s.vpcID == "" && b.cfg.VPCFilter != nil {
		out, err := s.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: filtersOf(b.cfg.VPCFilter.Filters)})
		if err != nil {
			return fmt.Errorf("find VPC: %w", err)
		}
		if len(out.Vpcs) != 1 {
			return fmt.Errorf("vpc_filter %s matches %d VPCs in %s, not one", describeFilters(b.cfg.VPCFilter.Filters), len(out.Vpcs), b.cfg.Region)
		}
		s.vpcID = aws.ToString(out.Vpcs[0].VpcId)
	}
	switch {
	case s.subnetID != "":
		out, err := s.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{s.subnetID}})
		if err != nil {
			return fmt.Errorf("subnet %s: %w", s.subnetID, err)
		}
		if len(out.Subnets) != 1 {
			return fmt.Errorf("subnet %s not found in %s", s.subnetID, b.cfg.Region)
		}
		s.vpcID, s.az = aws.ToString(out.Subnets[0].VpcId), aws.ToString(out.Subnets[0].AvailabilityZone)
	case b.cfg.SubnetFilter != nil || s.vpcID != "":
		var fs []types.Filter
		if b.cfg.SubnetFilter != nil {
			fs = filtersOf(b.cfg.SubnetFilter.Filters)
		}
		if s.vpcID != "" {
			fs = append(fs, types.Filter{Name: aws.String("vpc-id"), Values: []string{s.vpcID}})
		}
		if s.az != "" {
			fs = append(fs, types.Filter{Name: aws.String("availability-zone"), Values: []string{s.az}})
		}
		out, err := s.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: fs})
		if err != nil {
			return fmt.Errorf("find subnet: %w", err)
		}
		if len(out.Subnets) == 0 {
			return fmt.Errorf("no subnet in %s matches %s", b.cfg.Region, describeTypeFilters(fs))
		}
		subnets := out.Subnets
		pick := subnets[0]
		switch {
		case b.cfg.SubnetFilter != nil && b.cfg.SubnetFilter.Random:
			pick = subnets[rand.IntN(len(subnets))]
		case b.cfg.SubnetFilter == nil || b.cfg.SubnetFilter.MostFree:
			for _, sn := range subnets {
				if aws.ToInt32(sn.AvailableIpAddressCount) > aws.ToInt32(pick.AvailableIpAddressCount) {
					pick = sn
				}
			}
		case len(subnets) > 1:
			return fmt.Errorf("subnet_filter matches %d subnets in %s: set most_free or random to pick one", len(subnets), b.cfg.Region)
		}
		s.subnetID, s.vpcID, s.az = aws.ToString(pick.SubnetId), aws.ToString(pick.VpcId), aws.ToString(pick.AvailabilityZone)
	}
	if b.cfg.SecurityGroupFilter != nil {
		fs := filtersOf(b.cfg.SecurityGroupFilter.Filters)
		if s.vpcID != "" {
			fs = append(fs, types.Filter{Name: aws.String("vpc-id"), Values: []string{s.vpcID}})
		}
		out, err := s.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: fs})
		if err != nil {
			return fmt.Errorf("find security groups: %w", err)
		}
		if len(out.SecurityGroups) == 0 {
			return fmt.Errorf("no security group in %s matches %s", b.cfg.Region, describeTypeFilters(fs))
		}
		for _, g := range out.SecurityGroups {
			s.groupIDs = append(s.groupIDs, aws.ToString(g.GroupId))
		}
	}
	return nil
}

func describeTypeFilters(fs []types.Filter) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, aws.ToString(f.Name)+"="+strings.Join(f.Values, "|"))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func (b *Builder) sshComm() bool { return b.cfg.Type == communicator.SSH }

// needsTempKey reports whether the build makes a temporary key pair: SSH
// with no key pair, key file, password or agent of the template's.
func (b *Builder) needsTempKey() bool {
	c := b.cfg.SSHConfig
	return b.sshComm() && c.KeyPairName == "" && c.PrivateKeyFile == "" && c.Password == "" && !c.AgentAuth
}

// needsTempGroup reports whether the build makes a temporary security
// group: SSH with no security group of the template's.
func (b *Builder) needsTempGroup() bool {
	return b.sshComm() && len(b.cfg.SecurityGroupIDs) == 0 && b.cfg.SecurityGroupFilter == nil
}

func (b *Builder) createKeyPair(ctx context.Context, s *state) error {
	name := b.cfg.TemporaryKeyPairName
	if name == "" {
		name = b.tempName()
	}
	s.keyTried = name
	cctx, cancel := creating(ctx)
	defer cancel()
	out, err := s.ec2.CreateKeyPair(cctx, &ec2.CreateKeyPairInput{
		KeyName:           aws.String(name),
		KeyType:           types.KeyType(b.cfg.TemporaryKeyPairType),
		KeyFormat:         types.KeyFormatPem,
		TagSpecifications: []types.TagSpecification{b.tagSpec(types.ResourceTypeKeyPair, nil)},
	})
	if errorCode(err) == "InvalidKeyPair.Duplicate" {
		return fmt.Errorf("create key pair: key pair name %q is taken in %s; bake deletes only the key pairs it creates, so choose another temporary_key_pair_name (or use that pair with ssh_keypair_name and ssh_private_key_file): %w",
			name, b.cfg.Region, err)
	}
	if err != nil {
		return fmt.Errorf("create key pair %s: %w", name, err)
	}
	s.keyName, s.keyID, s.keyTried = name, aws.ToString(out.KeyPairId), ""
	s.privateKey = []byte(aws.ToString(out.KeyMaterial))
	signer, err := gossh.ParsePrivateKey(s.privateKey)
	if err != nil {
		return fmt.Errorf("key pair %s: parse private key: %w", name, err)
	}
	s.publicKey = strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))
	s.ui.Say(fmt.Sprintf("created temporary key pair %s", name))
	return nil
}

// deleteKeyPair deletes the temporary key pair: the one created, or after
// a failed create call, one of the tried name that carries the build's
// tags.
func (b *Builder) deleteKeyPair(ctx context.Context, s *state) error {
	if s.keyID == "" && s.keyTried != "" {
		out, err := s.ec2.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{
			Filters: append(b.runFilters(), types.Filter{Name: aws.String("key-name"), Values: []string{s.keyTried}}),
		})
		if err != nil {
			return fmt.Errorf("look for key pair %s in %s: %w", s.keyTried, b.cfg.Region, err)
		}
		for _, kp := range out.KeyPairs {
			s.keyName, s.keyID = aws.ToString(kp.KeyName), aws.ToString(kp.KeyPairId)
		}
		s.keyTried = ""
	}
	if s.keyID == "" {
		return nil
	}
	id := s.keyID
	err := b.retryCleanup(ctx, func(ctx context.Context) error {
		// By id: the name may stand for another pair by now.
		_, err := s.ec2.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: aws.String(id)})
		return err
	})
	if err != nil {
		return fmt.Errorf("delete key pair %s (%s) in %s: %w", s.keyName, id, b.cfg.Region, err)
	}
	s.keyName, s.keyID = "", ""
	return nil
}

// leftKeyPair names the temporary key pair once created. One a failed
// create call may have made is not named: its name may be someone else's
// pair; bake gc finds it by its tags.
func (b *Builder) leftKeyPair(s *state) string {
	if s.keyID == "" {
		return ""
	}
	return fmt.Sprintf("key pair %s in %s: aws ec2 delete-key-pair --region %s --key-pair-id %s", s.keyName, b.cfg.Region, b.cfg.Region, s.keyID)
}

// sourceCIDRs returns where the temporary security group admits SSH from:
// temporary_security_group_source_cidrs, else this machine's address: the
// loopback address for an endpoint on loopback (the test server), the
// VPC's range for a private ssh_interface, else the public address that
// checkip.amazonaws.com sees.
func (b *Builder) sourceCIDRs(ctx context.Context, s *state) ([]string, error) {
	if len(b.cfg.TemporarySecurityGroupSourceCIDRs) > 0 {
		return b.cfg.TemporarySecurityGroupSourceCIDRs, nil
	}
	if u, err := url.Parse(b.cfg.CustomEndpointEC2); err == nil && u.Hostname() != "" {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() || u.Hostname() == "localhost" {
			return []string{"127.0.0.1/32"}, nil
		}
	}
	if strings.HasPrefix(b.cfg.SSHInterface, "private") {
		in := &ec2.DescribeVpcsInput{}
		if s.vpcID != "" {
			in.VpcIds = []string{s.vpcID}
		} else {
			in.Filters = []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}
		}
		out, err := s.ec2.DescribeVpcs(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("find the VPC's address range: %w", err)
		}
		if len(out.Vpcs) == 0 {
			return nil, fmt.Errorf("no VPC found to admit SSH from: set temporary_security_group_source_cidrs")
		}
		return []string{aws.ToString(out.Vpcs[0].CidrBlock)}, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, b.checkIPURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		defer resp.Body.Close()
		var body []byte
		body, err = io.ReadAll(io.LimitReader(resp.Body, 256))
		if ip := net.ParseIP(strings.TrimSpace(string(body))); err == nil && ip != nil {
			if ip.To4() != nil {
				return []string{ip.String() + "/32"}, nil
			}
			return []string{ip.String() + "/128"}, nil
		}
		if err == nil {
			err = fmt.Errorf("answer %q is not an address", strings.TrimSpace(string(body)))
		}
	}
	return nil, fmt.Errorf("find this machine's public address at %s to admit SSH from it only: %w (set temporary_security_group_source_cidrs)", b.checkIPURL, err)
}

func (b *Builder) createGroup(ctx context.Context, s *state) error {
	cidrs, err := b.sourceCIDRs(ctx, s)
	if err != nil {
		return err
	}
	name := b.tempName()
	s.groupTried = name
	in := &ec2.CreateSecurityGroupInput{
		GroupName:         aws.String(name),
		Description:       aws.String("Temporary group for bake build " + b.name),
		TagSpecifications: []types.TagSpecification{b.tagSpec(types.ResourceTypeSecurityGroup, nil)},
	}
	if s.vpcID != "" {
		in.VpcId = aws.String(s.vpcID)
	}
	cctx, cancel := creating(ctx)
	out, err := s.ec2.CreateSecurityGroup(cctx, in)
	cancel()
	if errorCode(err) == "InvalidGroup.Duplicate" {
		return fmt.Errorf("create security group: security group name %q is taken in %s; bake deletes only the groups it creates: %w", name, b.cfg.Region, err)
	}
	if err != nil {
		return fmt.Errorf("create security group %s: %w", name, err)
	}
	s.groupID, s.groupTried = aws.ToString(out.GroupId), ""
	port := int32(b.cfg.Port)
	if port == 0 {
		port = 22
	}
	_, err = s.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId:       aws.String(s.groupID),
		IpPermissions: []types.IpPermission{sshIngress(port, cidrs)},
	})
	if err != nil {
		return fmt.Errorf("allow SSH into security group %s: %w", s.groupID, err)
	}
	s.groupIDs = []string{s.groupID}
	s.ui.Say(fmt.Sprintf("created temporary security group %s admitting port %d from %s", s.groupID, port, strings.Join(cidrs, ", ")))
	return nil
}

// sshIngress is the rule that admits port from cidrs: IPv4 blocks in
// IpRanges, IPv6 blocks in Ipv6Ranges, as EC2 takes them.
func sshIngress(port int32, cidrs []string) types.IpPermission {
	perm := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port)}
	for _, c := range cidrs {
		if strings.Contains(c, ":") {
			perm.Ipv6Ranges = append(perm.Ipv6Ranges, types.Ipv6Range{CidrIpv6: aws.String(c), Description: aws.String("bake SSH")})
		} else {
			perm.IpRanges = append(perm.IpRanges, types.IpRange{CidrIp: aws.String(c), Description: aws.String("bake SSH")})
		}
	}
	return perm
}

// deleteGroup deletes the temporary security group, retrying while the
// terminated instance still holds it.
func (b *Builder) deleteGroup(ctx context.Context, s *state) error {
	if s.groupID == "" && s.groupTried != "" {
		// The create call failed, yet may have made the group: only one
		// carrying the build's tags is ours.
		out, err := s.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
			Filters: append(b.runFilters(), types.Filter{Name: aws.String("group-name"), Values: []string{s.groupTried}}),
		})
		if err != nil {
			return fmt.Errorf("look for security group %s in %s: %w", s.groupTried, b.cfg.Region, err)
		}
		for _, g := range out.SecurityGroups {
			s.groupID = aws.ToString(g.GroupId)
		}
		s.groupTried = ""
	}
	if s.groupID == "" {
		return nil
	}
	id := s.groupID
	others := 0
	err := s.inst.wait(ctx, "security group "+id+" in "+b.cfg.Region+" to be released", func(ctx context.Context) (string, bool, error) {
		_, err := s.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)})
		switch code := errorCode(err); {
		case err == nil || isNotFound(err):
			return "deleted", true, nil
		case code == "InvalidGroup.InUse" || code == "DependencyViolation":
			return "in use", false, nil
		case others < 4 && ctx.Err() == nil:
			others++ // try again: it may pass
			return "not deleted: " + err.Error(), false, nil
		default:
			return "", false, err
		}
	})
	if err != nil {
		return fmt.Errorf("delete security group %s: %w", id, err)
	}
	s.groupID = ""
	return nil
}

func (b *Builder) leftGroup(s *state) string {
	if s.groupID == "" {
		return ""
	}
	return fmt.Sprintf("security group %s in %s: aws ec2 delete-security-group --region %s --group-id %s", s.groupID, b.cfg.Region, b.cfg.Region, s.groupID)
}

func (b *Builder) userData() (string, error) {
	data := b.cfg.UserData
	if b.cfg.UserDataFile != "" {
		raw, err := os.ReadFile(b.cfg.UserDataFile)
		if err != nil {
			return "", fmt.Errorf("read user_data_file: %w", err)
		}
		data = string(raw)
	}
	if data == "" {
		return "", nil
	}
	return base64.StdEncoding.EncodeToString([]byte(data)), nil
}

func blockDevices(bds []BlockDevice) []types.BlockDeviceMapping {
	var out []types.BlockDeviceMapping
	for _, d := range bds {
		m := types.BlockDeviceMapping{DeviceName: aws.String(d.DeviceName)}
		switch {
		case d.NoDevice:
			m.NoDevice = aws.String("")
		case d.VirtualName != "":
			m.VirtualName = aws.String(d.VirtualName)
		default:
			e := &types.EbsBlockDevice{DeleteOnTermination: aws.Bool(d.DeleteOnTermination), VolumeType: types.VolumeType(d.VolumeType),
				Iops: d.IOPS, Throughput: d.Throughput, Encrypted: d.Encrypted}
			if d.VolumeSize > 0 {
				e.VolumeSize = aws.Int32(int32(d.VolumeSize))
			}
			if d.SnapshotID != "" {
				e.SnapshotId = aws.String(d.SnapshotID)
			}
			if d.KMSKeyID != "" {
				e.KmsKeyId = aws.String(d.KMSKeyID)
			}
			m.Ebs = e
		}
		out = append(out, m)
	}
	return out
}

// launch runs the instance and waits until it is running.
func (b *Builder) launch(ctx context.Context, s *state) error {
	in, err := b.runInput(s)
	if err != nil {
		return err
	}
	s.clientToken = b.tempName()
	in.ClientToken = aws.String(s.clientToken)
	var out *ec2.RunInstancesOutput
	err = b.untilProfileUsable(ctx, s, func() (string, error) {
		cctx, cancel := creating(ctx)
		defer cancel()
		var err error
		out, err = s.ec2.RunInstances(cctx, in)
		return errorCode(err) + ": " + errorMessage(err), err
	})
	if err != nil {
		return fmt.Errorf("run instance of %s (%s) in %s: %w", aws.ToString(s.source.ImageId), b.cfg.InstanceType, b.cfg.Region, err)
	}
	if len(out.Instances) != 1 {
		return fmt.Errorf("run instance: EC2 launched %d instances, not 1", len(out.Instances))
	}
	s.instanceID = aws.ToString(out.Instances[0].InstanceId)
	return b.launched(ctx, s)
}

// launched waits until the instance just launched runs and picks the
// address to reach it at.
func (b *Builder) launched(ctx context.Context, s *state) error {
	s.ui.Say(fmt.Sprintf("launched instance %s, waiting for it to run", s.instanceID))
	if err := b.waitInstance(ctx, s, types.InstanceStateNameRunning); err != nil {
		return err
	}
	host, err := b.sshHost(s.instance)
	if err != nil {
		return err
	}
	s.host = host
	return nil
}

// runInput returns the RunInstances input of the instance, without a
// client token: a spot launch turns it into a launch template.
func (b *Builder) runInput(s *state) (*ec2.RunInstancesInput, error) {
	userData, err := b.userData()
	if err != nil {
		return nil, err
	}
	in := &ec2.RunInstancesInput{
		ImageId:             s.source.ImageId,
		InstanceType:        types.InstanceType(b.cfg.InstanceType),
		MinCount:            aws.Int32(1),
		MaxCount:            aws.Int32(1),
		BlockDeviceMappings: blockDevices(b.cfg.LaunchBlockDeviceMappings),
		TagSpecifications: []types.TagSpecification{
			b.tagSpec(types.ResourceTypeInstance, b.cfg.RunTags),
			b.tagSpec(types.ResourceTypeVolume, b.cfg.RunVolumeTags),
		},
	}
	if s.keyName != "" {
		in.KeyName = aws.String(s.keyName)
	} else if b.cfg.KeyPairName != "" {
		in.KeyName = aws.String(b.cfg.KeyPairName)
	}
	if userData != "" {
		in.UserData = aws.String(userData)
	}
	if p := b.cfg.IAMInstanceProfile; p != "" || s.profile != "" {
		if s.profile != "" {
			p = s.profile
		}
		if strings.HasPrefix(p, "arn:") {
			in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Arn: aws.String(p)}
		} else {
			in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: aws.String(p)}
		}
	}
	if b.cfg.EBSOptimized {
		in.EbsOptimized = aws.Bool(true)
	}
	in.MetadataOptions = b.metadataOptions()
	if b.cfg.EnableUnlimitedCredits {
		in.CreditSpecification = &types.CreditSpecificationRequest{CpuCredits: aws.String("unlimited")}
	}
	if b.cfg.ShutdownBehavior != "" {
		in.InstanceInitiatedShutdownBehavior = types.ShutdownBehavior(b.cfg.ShutdownBehavior)
	}
	if s.az != "" {
		in.Placement = &types.Placement{AvailabilityZone: aws.String(s.az)}
	}
	if b.cfg.AssociatePublicIPAddress != nil {
		ni := types.InstanceNetworkInterfaceSpecification{
			DeviceIndex:              aws.Int32(0),
			AssociatePublicIpAddress: b.cfg.AssociatePublicIPAddress,
			DeleteOnTermination:      aws.Bool(true),
			Groups:                   s.groupIDs,
		}
		if s.subnetID != "" {
			ni.SubnetId = aws.String(s.subnetID)
		}
		in.NetworkInterfaces = []types.InstanceNetworkInterfaceSpecification{ni}
	} else {
		in.SecurityGroupIds = s.groupIDs
		if s.subnetID != "" {
			in.SubnetId = aws.String(s.subnetID)
		}
	}
	return in, nil
}

// metadataOptions returns the metadata_options block as RunInstances
// takes it, or nil.
func (b *Builder) metadataOptions() *types.InstanceMetadataOptionsRequest {
	m := b.cfg.MetadataOptions
	if m == nil {
		return nil
	}
	out := &types.InstanceMetadataOptionsRequest{
		HttpEndpoint:         types.InstanceMetadataEndpointState(m.HTTPEndpoint),
		HttpTokens:           types.HttpTokensState(m.HTTPTokens),
		InstanceMetadataTags: types.InstanceMetadataTagsState(m.InstanceMetadataTags),
	}
	if m.HTTPPutResponseHopLimit > 0 {
		out.HttpPutResponseHopLimit = aws.Int32(m.HTTPPutResponseHopLimit)
	}
	return out
}

// waitInstance waits until the instance reaches want, recording the last
// description in s.instance.
func (b *Builder) waitInstance(ctx context.Context, s *state, want types.InstanceStateName) error {
	id := s.instanceID
	what := "instance " + id + " in " + b.cfg.Region + " to be " + string(want)
	return s.inst.wait(ctx, what, func(ctx context.Context) (string, bool, error) {
		out, err := s.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if isNotFound(err) {
			return "not yet visible", false, nil // EC2 is eventually consistent
		}
		if err != nil {
			return "", false, err
		}
		if len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0 {
			return "not yet visible", false, nil
		}
		s.instance = out.Reservations[0].Instances[0]
		st := s.instance.State.Name
		if st == want {
			return string(st), true, nil
		}
		if (st == types.InstanceStateNameTerminated || st == types.InstanceStateNameShuttingDown) && want != types.InstanceStateNameTerminated {
			reason := ""
			if s.instance.StateReason != nil {
				reason = ": " + aws.ToString(s.instance.StateReason.Message)
			}
			return string(st), false, fmt.Errorf("instance %s is %s%s", id, st, reason)
		}
		return string(st), false, nil
	})
}

// sshHost picks the address to connect to: ssh_host, else by
// ssh_interface, else the public address, else the private one.
func (b *Builder) sshHost(in types.Instance) (string, error) {
	if b.cfg.Host != "" {
		return b.cfg.Host, nil
	}
	var host string
	switch b.cfg.SSHInterface {
	case "public_ip":
		host = aws.ToString(in.PublicIpAddress)
	case "private_ip":
		host = aws.ToString(in.PrivateIpAddress)
	case "public_dns":
		host = aws.ToString(in.PublicDnsName)
	case "private_dns":
		host = aws.ToString(in.PrivateDnsName)
	default:
		host = aws.ToString(in.PublicIpAddress)
		if host == "" {
			host = aws.ToString(in.PrivateIpAddress)
		}
	}
	if host == "" && b.sshComm() {
		iface := b.cfg.SSHInterface
		if iface == "" {
			iface = "public_ip or private_ip"
		}
		return "", fmt.Errorf("instance %s has no %s address to connect to", aws.ToString(in.InstanceId), iface)
	}
	return host, nil
}

// terminate terminates the instance and waits until it is gone, so that
// the security group can be deleted after it.
func (b *Builder) terminate(ctx context.Context, s *state) error {
	if s.instanceID == "" && s.clientToken != "" {
		// RunInstances may have launched the instance without our hearing
		// of it: find it by its client token.
		out, err := s.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{
			Filters: append(b.runFilters(), types.Filter{Name: aws.String("client-token"), Values: []string{s.clientToken}}),
		})
		if err != nil {
			return fmt.Errorf("look for the instance launched with client token %s: %w", s.clientToken, err)
		}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				if in.State != nil && in.State.Name != types.InstanceStateNameTerminated {
					s.instanceID = aws.ToString(in.InstanceId)
				}
			}
		}
		s.clientToken = ""
	}
	if s.instanceID == "" {
		return nil
	}
	id := s.instanceID
	// Terminating is idempotent: on any failure, terminate and wait again.
	err := b.retryCleanup(ctx, func(ctx context.Context) error {
		_, err := s.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			return err
		}
		return b.waitInstance(ctx, s, types.InstanceStateNameTerminated)
	})
	if err != nil {
		return fmt.Errorf("terminate instance %s in %s: %w", id, b.cfg.Region, err)
	}
	s.instanceID = ""
	return nil
}

func (b *Builder) leftInstance(s *state) string {
	if s.instanceID == "" {
		return ""
	}
	return fmt.Sprintf("instance %s in %s: aws ec2 terminate-instances --region %s --instance-ids %s", s.instanceID, b.cfg.Region, b.cfg.Region, s.instanceID)
}

// provision connects over SSH and runs the provisioners through hook.
func (b *Builder) provision(ctx context.Context, s *state, hook builder.Hook) error {
	info := b.info(s)
	if !b.sshComm() {
		if hook == nil {
			return nil
		}
		return hook(ctx, nil, info)
	}
	cfg, err := b.cfg.SSHConfig.Client(s.host, 0, s.privateKey)
	if err != nil {
		return err
	}
	if d := b.cfg.PauseBeforeConnecting; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
	}
	s.ui.Say(fmt.Sprintf("connecting to %s as %s", cfg.Addr(), cfg.User))
	comm, err := ssh.Connect(ctx, cfg, nil)
	if err != nil {
		return fmt.Errorf("connect to instance %s: %w", s.instanceID, err)
	}
	s.comm = comm
	if hook == nil {
		return nil
	}
	return hook(ctx, comm, info)
}

func closeComm(_ context.Context, s *state) error {
	if s.comm == nil {
		return nil
	}
	err := s.comm.Close()
	s.comm = nil
	return err
}

// stop stops the instance (unless disable_stop_instance, where a
// provisioner stops it) and waits until it is stopped.
func (b *Builder) stop(ctx context.Context, s *state) error {
	if !b.cfg.DisableStopInstance {
		_, err := s.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{s.instanceID}})
		if err != nil {
			return fmt.Errorf("stop instance %s: %w", s.instanceID, err)
		}
	}
	return b.waitInstance(ctx, s, types.InstanceStateNameStopped)
}

// profileAttempts is how many times a launch is tried while EC2 does not
// know the temporary instance profile yet (IAM is eventually
// consistent), a poll delay apart, as Packer does.
const profileAttempts = 12

// untilProfileUsable calls launch until EC2 stops refusing the temporary
// instance profile as unknown ("Invalid IAM Instance Profile name"):
// launch returns the launch's error code and message ("" when none) and
// its error. Without a temporary profile it calls launch once.
func (b *Builder) untilProfileUsable(ctx context.Context, s *state, launch func() (string, error)) error {
	for attempt := 1; ; attempt++ {
		why, err := launch()
		if s.profile == "" || !profileNotReady(why) || attempt >= profileAttempts {
			return err
		}
		s.ui.Say(fmt.Sprintf("EC2 does not know instance profile %s yet, trying again", s.profile))
		t := time.NewTimer(s.inst.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// profileNotReady reports whether an EC2 error code and message say that
// an instance profile is not known (yet).
func profileNotReady(why string) bool {
	return strings.HasPrefix(why, "InvalidParameterValue:") && strings.Contains(strings.ToLower(why), "iam instance profile")
}

// errorMessage returns the EC2 error message of err, or "".
func errorMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// creating returns the context of a call that creates something: it is
// not cancelled with the build, so that a call in flight completes and
// the build learns the id of what it made, for its cleanup to remove.
func creating(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
}

// retryCleanup calls fn until it succeeds or reports that the resource is
// gone, up to five times with a growing pause: a cleanup tries hard
// before it leaves something behind.
func (b *Builder) retryCleanup(ctx context.Context, fn func(ctx context.Context) error) error {
	unit := b.tuning.withDefaults().pollUnit
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || isNotFound(err) {
			return nil
		}
		if attempt >= 5 || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(time.Duration(attempt) * unit)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
