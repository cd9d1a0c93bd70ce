package amazon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/bake-tool/bake/internal/gc"
)

// gcAPI is the subset of the EC2 client that the Finder uses.
type gcAPI interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, opts ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, opts ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	DeregisterImage(ctx context.Context, in *ec2.DeregisterImageInput, opts ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error)
	DescribeSnapshots(ctx context.Context, in *ec2.DescribeSnapshotsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error)
	DeleteSnapshot(ctx context.Context, in *ec2.DeleteSnapshotInput, opts ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
	DescribeKeyPairs(ctx context.Context, in *ec2.DescribeKeyPairsInput, opts ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error)
	DeleteKeyPair(ctx context.Context, in *ec2.DeleteKeyPairInput, opts ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error)
	DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DeleteSecurityGroup(ctx context.Context, in *ec2.DeleteSecurityGroupInput, opts ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error)
	DescribeLaunchTemplates(ctx context.Context, in *ec2.DescribeLaunchTemplatesInput, opts ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error)
	DeleteLaunchTemplate(ctx context.Context, in *ec2.DeleteLaunchTemplateInput, opts ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateOutput, error)
	DescribeFleets(ctx context.Context, in *ec2.DescribeFleetsInput, opts ...func(*ec2.Options)) (*ec2.DescribeFleetsOutput, error)
	DeleteFleets(ctx context.Context, in *ec2.DeleteFleetsInput, opts ...func(*ec2.Options)) (*ec2.DeleteFleetsOutput, error)
}

var _ gcAPI = (*ec2.Client)(nil)

// gcIAM is the subset of the IAM client that the Finder uses: the
// temporary roles and instance profiles of
// temporary_iam_instance_profile_policy_document.
type gcIAM interface {
	ListRoles(ctx context.Context, in *iam.ListRolesInput, opts ...func(*iam.Options)) (*iam.ListRolesOutput, error)
	GetRole(ctx context.Context, in *iam.GetRoleInput, opts ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, opts ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	DeleteRole(ctx context.Context, in *iam.DeleteRoleInput, opts ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
	ListInstanceProfiles(ctx context.Context, in *iam.ListInstanceProfilesInput, opts ...func(*iam.Options)) (*iam.ListInstanceProfilesOutput, error)
	GetInstanceProfile(ctx context.Context, in *iam.GetInstanceProfileInput, opts ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
	RemoveRoleFromInstanceProfile(ctx context.Context, in *iam.RemoveRoleFromInstanceProfileInput, opts ...func(*iam.Options)) (*iam.RemoveRoleFromInstanceProfileOutput, error)
	DeleteInstanceProfile(ctx context.Context, in *iam.DeleteInstanceProfileInput, opts ...func(*iam.Options)) (*iam.DeleteInstanceProfileOutput, error)
}

var _ gcIAM = (*iam.Client)(nil)

// Kinds of EC2 leftovers.
const (
	gcInstance = "EC2 instance"
	gcAMI      = "AMI"
	gcSnapshot = "EBS snapshot"
	gcKeyPair  = "EC2 key pair"
	gcGroup    = "EC2 security group"
	gcTemplate = "EC2 launch template"
	gcFleet    = "EC2 fleet"
	gcProfile  = "IAM instance profile"
	gcRole     = "IAM role"
)

// iamWhere is the Where of IAM leftovers: IAM is global.
const iamWhere = "global"

// Finder finds what amazon-ebs builds left in the given regions, by the
// bake:run-id tag: instances (not terminated), key pairs and security
// groups are leftovers; AMIs and their snapshots are a finished run's
// artifacts as often, so they are marked gc.Artifact (they go only with a
// run that crashed), except a snapshot no AMI uses and an AMI that
// failed.
type Finder struct {
	regions []string
	access  AccessConfig
	// poll is the pause between two looks while a removal waits (an
	// instance terminating, a group still in use); wait bounds it.
	poll, wait time.Duration
	newAPI     func(ctx context.Context, region string) (gcAPI, error)
	apis       map[string]gcAPI
	newIAM     func(ctx context.Context) (gcIAM, error)
	iam        gcIAM
}

var _ gc.Finder = (*Finder)(nil)

// NewFinder returns the finder for regions, reached through the standard
// credential chain and, when endpoint is set, that EC2 endpoint (what
// custom_endpoint_ec2 sets in a template).
func NewFinder(regions []string, endpoint string) *Finder {
	f := &Finder{regions: regions, access: AccessConfig{CustomEndpointEC2: endpoint},
		poll: 5 * time.Second, wait: 10 * time.Minute, apis: map[string]gcAPI{}}
	f.newAPI = func(ctx context.Context, region string) (gcAPI, error) {
		return newEC2(ctx, &f.access, region, tuning{})
	}
	f.newIAM = func(ctx context.Context) (gcIAM, error) {
		cfg, err := loadAWSConfig(ctx, &f.access, f.regions[0], tuning{})
		if err != nil {
			return nil, err
		}
		return iam.NewFromConfig(cfg), nil
	}
	return f
}

// Name implements gc.Finder.
func (*Finder) Name() string { return BuilderType }

func (f *Finder) api(ctx context.Context, region string) (gcAPI, error) {
	if c := f.apis[region]; c != nil {
		return c, nil
	}
	c, err := f.newAPI(ctx, region)
	if err != nil {
		return nil, err
	}
	f.apis[region] = c
	return c, nil
}

// Find implements gc.Finder, region by region: fleets and instances,
// then AMIs, snapshots, key pairs, security groups and launch templates,
// the order they can be removed in.
func (f *Finder) Find(ctx context.Context, flt gc.Filter) ([]gc.Leftover, error) {
	if len(f.regions) == 0 {
		return nil, fmt.Errorf("no region given (-region, AWS_REGION): %w", gc.ErrUnavailable)
	}
	var out []gc.Leftover
	var errs []error
	for _, r := range f.regions {
		ls, err := f.findIn(ctx, r, flt)
		out = append(out, ls...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r, err))
		}
	}
	ls, err := f.findIAM(ctx, flt)
	out = append(out, ls...)
	if err != nil {
		errs = append(errs, fmt.Errorf("IAM: %w", err))
	}
	return out, errors.Join(errs...)
}

// findIAM finds the temporary instance profiles and roles of the runs:
// IAM lists them without tags, so those named like bake's temporary
// resources (bake_…) are looked at one by one.
func (f *Finder) findIAM(ctx context.Context, flt gc.Filter) ([]gc.Leftover, error) {
	if f.iam == nil {
		c, err := f.newIAM(ctx)
		if err != nil {
			return nil, err
		}
		f.iam = c
	}
	var out []gc.Leftover
	match := func(kind, name string, tags []iamtypes.Tag, created *time.Time) {
		l := gc.Leftover{Kind: kind, ID: name, Where: iamWhere}
		for _, t := range tags {
			switch aws.ToString(t.Key) {
			case TagRunID:
				l.RunID = aws.ToString(t.Value)
			case TagBuild:
				l.Build = aws.ToString(t.Value)
			}
		}
		if created != nil {
			l.Created = *created
		}
		if l.RunID != "" && (flt.RunID == "" || l.RunID == flt.RunID) {
			out = append(out, l)
		}
	}
	type named struct {
		kind, name string
		created    *time.Time
	}
	var found []named
	pp := iam.NewListInstanceProfilesPaginator(f.iam, &iam.ListInstanceProfilesInput{})
	for pp.HasMorePages() {
		page, err := pp.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("list instance profiles: %w", err)
		}
		for _, p := range page.InstanceProfiles {
			found = append(found, named{gcProfile, aws.ToString(p.InstanceProfileName), p.CreateDate})
		}
	}
	rp := iam.NewListRolesPaginator(f.iam, &iam.ListRolesInput{})
	for rp.HasMorePages() {
		page, err := rp.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("list roles: %w", err)
		}
		for _, r := range page.Roles {
			found = append(found, named{gcRole, aws.ToString(r.RoleName), r.CreateDate})
		}
	}
	for _, n := range found {
		if !strings.HasPrefix(n.name, "bake_") {
			continue
		}
		tags, err := f.iamTags(ctx, n.kind, n.name)
		if iamGone(err) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("get %s %s: %w", n.kind, n.name, err)
		}
		match(n.kind, n.name, tags, n.created)
	}
	return out, nil
}

// iamTags reads the tags of an instance profile or a role, which IAM's
// lists do not carry.
func (f *Finder) iamTags(ctx context.Context, kind, name string) ([]iamtypes.Tag, error) {
	if kind == gcProfile {
		got, err := f.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
		if err != nil {
			return nil, err
		}
		return got.InstanceProfile.Tags, nil
	}
	got, err := f.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		return nil, err
	}
	return got.Role.Tags, nil
}

// removeIAM removes an instance profile (its roles taken out first) or a
// role (its inline policies deleted first).
func (f *Finder) removeIAM(ctx context.Context, l gc.Leftover) error {
	name := aws.String(l.ID)
	var err error
	switch l.Kind {
	case gcProfile:
		var got *iam.GetInstanceProfileOutput
		if got, err = f.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: name}); err != nil {
			break
		}
		for _, r := range got.InstanceProfile.Roles {
			if _, err = f.iam.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: name, RoleName: r.RoleName}); err != nil && !iamGone(err) {
				return fmt.Errorf("remove %s: %w", l, err)
			}
		}
		_, err = f.iam.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: name})
	case gcRole:
		var pols *iam.ListRolePoliciesOutput
		if pols, err = f.iam.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: name}); err != nil {
			break
		}
		for _, p := range pols.PolicyNames {
			if _, err = f.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: name, PolicyName: aws.String(p)}); err != nil && !iamGone(err) {
				return fmt.Errorf("remove %s: %w", l, err)
			}
		}
		_, err = f.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: name})
	}
	if err != nil && !iamGone(err) {
		return fmt.Errorf("remove %s: %w", l, err)
	}
	return nil
}

func (f *Finder) findIn(ctx context.Context, region string, flt gc.Filter) ([]gc.Leftover, error) {
	api, err := f.api(ctx, region)
	if err != nil {
		return nil, err
	}
	tag := types.Filter{Name: aws.String("tag-key"), Values: []string{TagRunID}}
	if flt.RunID != "" {
		tag = types.Filter{Name: aws.String("tag:" + TagRunID), Values: []string{flt.RunID}}
	}
	filters := []types.Filter{tag}
	leftover := func(kind, id string, tags []types.Tag, created *time.Time) gc.Leftover {
		l := gc.Leftover{Kind: kind, ID: id, Where: region}
		for _, t := range tags {
			switch aws.ToString(t.Key) {
			case TagRunID:
				l.RunID = aws.ToString(t.Value)
			case TagBuild:
				l.Build = aws.ToString(t.Value)
			}
		}
		if created != nil {
			l.Created = *created
		}
		return l
	}
	var out []gc.Leftover

	// DescribeFleets takes no tag filter: the run's fleets are told by
	// their tags here.
	fp := ec2.NewDescribeFleetsPaginator(api, &ec2.DescribeFleetsInput{Filters: []types.Filter{
		{Name: aws.String("fleet-state"), Values: []string{"submitted", "active", "modifying"}}}})
	for fp.HasMorePages() {
		page, err := fp.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("describe fleets: %w", err)
		}
		for _, fl := range page.Fleets {
			l := leftover(gcFleet, aws.ToString(fl.FleetId), fl.Tags, fl.CreateTime)
			if l.RunID == "" || flt.RunID != "" && l.RunID != flt.RunID {
				continue
			}
			l.Detail = string(fl.FleetState)
			out = append(out, l)
		}
	}

	ip := ec2.NewDescribeInstancesPaginator(api, &ec2.DescribeInstancesInput{Filters: append(filters,
		types.Filter{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}})})
	for ip.HasMorePages() {
		page, err := ip.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("describe instances: %w", err)
		}
		for _, res := range page.Reservations {
			for _, in := range res.Instances {
				l := leftover(gcInstance, aws.ToString(in.InstanceId), in.Tags, in.LaunchTime)
				l.Detail = string(in.State.Name)
				out = append(out, l)
			}
		}
	}

	// Every AMI of this account in the region, to tell which snapshots
	// an AMI still uses.
	mine, err := api.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		return out, fmt.Errorf("describe images: %w", err)
	}
	used := map[string]bool{}
	for _, img := range mine.Images {
		for _, bd := range img.BlockDeviceMappings {
			if bd.Ebs != nil && bd.Ebs.SnapshotId != nil {
				used[*bd.Ebs.SnapshotId] = true
			}
		}
	}
	imgs, err := api.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: filters})
	if err != nil {
		return out, fmt.Errorf("describe images: %w", err)
	}
	for _, img := range imgs.Images {
		var created *time.Time
		if t, err := time.Parse(time.RFC3339, aws.ToString(img.CreationDate)); err == nil {
			created = &t
		}
		l := leftover(gcAMI, aws.ToString(img.ImageId), img.Tags, created)
		l.Detail = aws.ToString(img.Name) + " " + string(img.State)
		l.Artifact = img.State != types.ImageStateFailed
		out = append(out, l)
	}

	sp := ec2.NewDescribeSnapshotsPaginator(api, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: filters})
	for sp.HasMorePages() {
		page, err := sp.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("describe snapshots: %w", err)
		}
		for _, sn := range page.Snapshots {
			l := leftover(gcSnapshot, aws.ToString(sn.SnapshotId), sn.Tags, sn.StartTime)
			l.Artifact = used[aws.ToString(sn.SnapshotId)]
			out = append(out, l)
		}
	}

	kps, err := api.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: filters})
	if err != nil {
		return out, fmt.Errorf("describe key pairs: %w", err)
	}
	for _, kp := range kps.KeyPairs {
		l := leftover(gcKeyPair, aws.ToString(kp.KeyPairId), kp.Tags, kp.CreateTime)
		l.Detail = aws.ToString(kp.KeyName)
		out = append(out, l)
	}

	gp := ec2.NewDescribeSecurityGroupsPaginator(api, &ec2.DescribeSecurityGroupsInput{Filters: filters})
	for gp.HasMorePages() {
		page, err := gp.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("describe security groups: %w", err)
		}
		for _, g := range page.SecurityGroups {
			l := leftover(gcGroup, aws.ToString(g.GroupId), g.Tags, nil)
			l.Detail = aws.ToString(g.GroupName)
			out = append(out, l)
		}
	}

	tp := ec2.NewDescribeLaunchTemplatesPaginator(api, &ec2.DescribeLaunchTemplatesInput{Filters: filters})
	for tp.HasMorePages() {
		page, err := tp.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("describe launch templates: %w", err)
		}
		for _, lt := range page.LaunchTemplates {
			l := leftover(gcTemplate, aws.ToString(lt.LaunchTemplateId), lt.Tags, lt.CreateTime)
			l.Detail = aws.ToString(lt.LaunchTemplateName)
			out = append(out, l)
		}
	}
	return out, nil
}

// Remove implements gc.Finder. An instance is terminated and waited for
// (its security group cannot go before); a security group still in use is
// tried again until the wait runs out.
func (f *Finder) Remove(ctx context.Context, l gc.Leftover) error {
	if l.Kind == gcProfile || l.Kind == gcRole {
		if f.iam == nil {
			c, err := f.newIAM(ctx)
			if err != nil {
				return err
			}
			f.iam = c
		}
		return f.removeIAM(ctx, l)
	}
	api, err := f.api(ctx, l.Where)
	if err != nil {
		return err
	}
	switch l.Kind {
	case gcInstance:
		err = f.terminate(ctx, api, l.ID)
	case gcAMI:
		_, err = api.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(l.ID)})
	case gcSnapshot:
		err = f.retry(ctx, "InvalidSnapshot.InUse", func() error {
			_, err := api.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(l.ID)})
			return err
		})
	case gcKeyPair:
		_, err = api.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: aws.String(l.ID)})
	case gcGroup:
		err = f.retry(ctx, "DependencyViolation", func() error {
			_, err := api.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(l.ID)})
			return err
		})
	case gcTemplate:
		_, err = api.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(l.ID)})
		if templateGone(err) {
			err = nil
		}
	case gcFleet:
		var out *ec2.DeleteFleetsOutput
		out, err = api.DeleteFleets(ctx, &ec2.DeleteFleetsInput{FleetIds: []string{l.ID}, TerminateInstances: aws.Bool(true)})
		if err == nil {
			for _, u := range out.UnsuccessfulFleetDeletions {
				if u.Error != nil && u.Error.Code != types.DeleteFleetErrorCodeFleetIdDoesNotExist {
					err = fmt.Errorf("%s: %s", u.Error.Code, aws.ToString(u.Error.Message))
				}
			}
		}
	default:
		return fmt.Errorf("not an EC2 leftover: %s", l.Kind)
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("remove %s: %w", l, err)
	}
	return nil
}

// terminate terminates an instance and waits until it is terminated.
func (f *Finder) terminate(ctx context.Context, api gcAPI, id string) error {
	if _, err := api.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		return err
	}
	deadline := time.Now().Add(f.wait)
	pause := min(500*time.Millisecond, f.poll)
	for {
		out, err := api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			return err
		}
		state := types.InstanceStateNameTerminated
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				if in.State != nil {
					state = in.State.Name
				}
			}
		}
		if state == types.InstanceStateNameTerminated {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("instance %s still %s after %s", id, state, f.wait)
		}
		if err := gcPause(ctx, pause); err != nil {
			return err
		}
		pause = min(2*pause, f.poll)
	}
}

// retry calls do until it does not fail with code, or the wait runs out.
func (f *Finder) retry(ctx context.Context, code string, do func() error) error {
	deadline := time.Now().Add(f.wait)
	pause := min(500*time.Millisecond, f.poll)
	for {
		err := do()
		if err == nil || errorCode(err) != code || time.Now().After(deadline) {
			return err
		}
		if err := gcPause(ctx, pause); err != nil {
			return err
		}
		pause = min(2*pause, f.poll)
	}
}

func gcPause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
