package amazon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sync/errgroup"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/provisioners"
)

// info is what the build tells its provisioners about itself.
func (b *Builder) info(s *state) provisioners.BuildInfo {
	info := b.opts.BuildInfo(BuilderType)
	info.Host, info.Port = s.host, b.cfg.Port
	if info.Port == 0 {
		info.Port = 22
	}
	info.User, info.Password = b.cfg.Username, b.cfg.Password
	info.SSHPublicKey, info.SSHPrivateKey = s.publicKey, string(s.privateKey)
	return info
}

func (b *Builder) encrypt() bool { return b.cfg.EncryptBoot != nil && *b.cfg.EncryptBoot }

func (b *Builder) sharing() bool {
	c := b.cfg
	return len(c.AMIUsers)+len(c.AMIGroups)+len(c.SnapshotUsers)+len(c.SnapshotGroups) > 0
}

// record notes an AMI this build registered, before waiting for it, so
// that a failed build deregisters it whatever happens next.
func (s *state) record(region, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.made = append(s.made, madeAMI{region: region, id: id})
}

// forget drops an AMI the build removed itself.
func (s *state) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.made = slices.DeleteFunc(s.made, func(m madeAMI) bool { return m.id == id })
}

// createAMI replaces the AMIs force_deregister allows to replace, makes
// the AMI of the stopped instance, waits for it, and with encrypt_boot
// replaces it by an encrypted copy.
func (b *Builder) createAMI(ctx context.Context, s *state) error {
	var old []madeAMI
	for _, r := range b.regions() {
		for _, id := range s.existing[r] {
			old = append(old, madeAMI{region: r, id: id})
		}
	}
	if len(old) > 0 {
		s.ui.Say(fmt.Sprintf("deregistering %d AMIs named %q (force_deregister)", len(old), b.cfg.AMIName))
		scope := keepSnapshots
		if b.cfg.ForceDeleteSnapshot {
			scope = allSnapshots
		}
		if err := b.deregister(ctx, old, scope); err != nil {
			return fmt.Errorf("force_deregister: %w", err)
		}
		clear(s.existing)
	}

	name := b.cfg.AMIName
	if b.encrypt() {
		name = b.tempName() // the encrypted copy takes ami_name
	}
	in := &ec2.CreateImageInput{
		InstanceId:          aws.String(s.instanceID),
		Name:                aws.String(name),
		BlockDeviceMappings: blockDevices(b.cfg.AMIBlockDeviceMappings),
		TagSpecifications: []types.TagSpecification{
			b.tagSpec(types.ResourceTypeImage, b.cfg.Tags),
			b.tagSpec(types.ResourceTypeSnapshot, b.snapshotTags()),
		},
	}
	if b.cfg.AMIDescription != "" {
		in.Description = aws.String(b.cfg.AMIDescription)
	}
	cctx, cancel := creating(ctx)
	out, err := s.ec2.CreateImage(cctx, in)
	cancel()
	if err != nil {
		return fmt.Errorf("create AMI %q from instance %s: %w", name, s.instanceID, amiNameTaken(name, b.cfg.Region, err))
	}
	id := aws.ToString(out.ImageId)
	s.record(b.cfg.Region, id)
	s.ui.Say(fmt.Sprintf("created AMI %s in %s, waiting for it to be available", id, b.cfg.Region))
	img, err := b.waitImage(ctx, s, s.ec2, b.cfg.Region, id)
	if err != nil {
		return err
	}
	if b.encrypt() {
		enc, encImg, err := b.copyImage(ctx, s, s.ec2, b.cfg.Region, id, b.cfg.KMSKeyID)
		if err != nil {
			return fmt.Errorf("encrypt AMI %s: %w", id, err)
		}
		if err := b.deregister(ctx, []madeAMI{{region: b.cfg.Region, id: id}}, ownSnapshots); err != nil {
			return fmt.Errorf("remove unencrypted AMI %s: %w", id, err)
		}
		s.forget(id)
		id, img = enc, encImg
	}
	s.amis[b.cfg.Region] = id
	s.snaps[b.cfg.Region] = snapshotIDs(img)
	return nil
}

// amiNameTaken explains EC2's refusal of an AMI name that another AMI
// took after the build checked it: bake replaces (force_deregister) only
// the AMIs it saw then, never one that appeared since.
func amiNameTaken(name, region string, err error) error {
	if errorCode(err) != "InvalidAMIName.Duplicate" {
		return err
	}
	return fmt.Errorf("AMI name %q is taken in %s by an AMI that appeared after bake checked the name (another build?); bake leaves it alone: %w", name, region, err)
}

func (b *Builder) snapshotTags() map[string]string {
	if len(b.cfg.SnapshotTags) > 0 {
		return b.cfg.SnapshotTags
	}
	return b.cfg.Tags
}

func snapshotIDs(img types.Image) []string {
	var ids []string
	for _, m := range img.BlockDeviceMappings {
		if m.Ebs != nil && m.Ebs.SnapshotId != nil {
			ids = append(ids, *m.Ebs.SnapshotId)
		}
	}
	return ids
}

// waitImage waits until the AMI is available and returns its description.
func (b *Builder) waitImage(ctx context.Context, s *state, c ec2API, region, id string) (types.Image, error) {
	var img types.Image
	err := s.img.wait(ctx, "AMI "+id+" in "+region, func(ctx context.Context) (string, bool, error) {
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		if isNotFound(err) {
			return "not yet visible", false, nil
		}
		if err != nil {
			return "", false, err
		}
		if len(out.Images) == 0 {
			return "not yet visible", false, nil
		}
		img = out.Images[0]
		switch img.State {
		case types.ImageStateAvailable:
			return string(img.State), true, nil
		case types.ImageStateFailed, types.ImageStateError, types.ImageStateInvalid, types.ImageStateDeregistered:
			reason := ""
			if img.StateReason != nil {
				reason = ": " + aws.ToString(img.StateReason.Message)
			}
			return string(img.State), false, fmt.Errorf("AMI %s in %s is %s%s", id, region, img.State, reason)
		}
		return string(img.State), false, nil
	})
	return img, err
}

// copyImage copies the build region's AMI src into the region of c,
// tagged and encrypted as configured, and waits for the copy.
func (b *Builder) copyImage(ctx context.Context, s *state, c ec2API, region, src, kmsKey string) (string, types.Image, error) {
	at := b.forRegion(region) // rendered with .BuildRegion = region
	in := &ec2.CopyImageInput{
		SourceRegion:  aws.String(b.cfg.Region),
		SourceImageId: aws.String(src),
		Name:          aws.String(b.cfg.AMIName),
		TagSpecifications: []types.TagSpecification{
			b.tagSpec(types.ResourceTypeImage, at.tags),
			b.tagSpec(types.ResourceTypeSnapshot, b.snapshotTagsIn(region)),
		},
	}
	if at.description != "" {
		in.Description = aws.String(at.description)
	}
	if m := b.cfg.SnapshotCopyDurationMinutes; m > 0 {
		in.SnapshotCopyCompletionDurationMinutes = aws.Int64(m)
	}
	if b.encrypt() {
		in.Encrypted = aws.Bool(true)
		if kmsKey != "" {
			in.KmsKeyId = aws.String(kmsKey)
		}
	}
	cctx, cancel := creating(ctx)
	out, err := c.CopyImage(cctx, in)
	cancel()
	if err != nil {
		return "", types.Image{}, fmt.Errorf("copy AMI %s to %s: %w", src, region, amiNameTaken(b.cfg.AMIName, region, err))
	}
	id := aws.ToString(out.ImageId)
	s.record(region, id)
	s.ui.Say(fmt.Sprintf("copying AMI %s to %s as %s", src, region, id))
	img, err := b.waitImage(ctx, s, c, region, id)
	return id, img, err
}

// copyAMI copies the AMI to every ami_regions region in parallel.
func (b *Builder) copyAMI(ctx context.Context, s *state) error {
	src := s.amis[b.cfg.Region]
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range b.cfg.AMIRegions {
		g.Go(func() error {
			c, err := b.client(gctx, r)
			if err != nil {
				return err
			}
			id, img, err := b.copyImage(gctx, s, c, r, src, b.cfg.RegionKMSKeyIDs[r])
			if err != nil {
				return err
			}
			s.mu.Lock()
			s.amis[r], s.snaps[r] = id, snapshotIDs(img)
			s.mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// share grants launch permission on every AMI and create-volume
// permission on its snapshots.
func (b *Builder) share(ctx context.Context, s *state) error {
	c := b.cfg
	var launch []types.LaunchPermission
	for _, u := range c.AMIUsers {
		launch = append(launch, types.LaunchPermission{UserId: aws.String(u)})
	}
	for _, g := range c.AMIGroups {
		launch = append(launch, types.LaunchPermission{Group: types.PermissionGroup(g)})
	}
	var volume []types.CreateVolumePermission
	for _, u := range c.SnapshotUsers {
		volume = append(volume, types.CreateVolumePermission{UserId: aws.String(u)})
	}
	for _, g := range c.SnapshotGroups {
		volume = append(volume, types.CreateVolumePermission{Group: types.PermissionGroup(g)})
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range b.regions() {
		id, snaps := s.amis[r], s.snaps[r]
		g.Go(func() error {
			rc, err := b.client(gctx, r)
			if err != nil {
				return err
			}
			if len(launch) > 0 {
				_, err := rc.ModifyImageAttribute(gctx, &ec2.ModifyImageAttributeInput{
					ImageId:          aws.String(id),
					LaunchPermission: &types.LaunchPermissionModifications{Add: launch},
				})
				if err != nil {
					return fmt.Errorf("share AMI %s in %s: %w", id, r, err)
				}
			}
			if len(volume) > 0 {
				for _, sn := range snaps {
					_, err := rc.ModifySnapshotAttribute(gctx, &ec2.ModifySnapshotAttributeInput{
						SnapshotId:             aws.String(sn),
						Attribute:              types.SnapshotAttributeNameCreateVolumePermission,
						OperationType:          types.OperationTypeAdd,
						CreateVolumePermission: &types.CreateVolumePermissionModifications{Add: volume},
					})
					if err != nil {
						return fmt.Errorf("share snapshot %s in %s: %w", sn, r, err)
					}
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// setAttributes requires IMDSv2 (imds_support) and sets the deprecation
// time (deprecate_at) of every AMI.
func (b *Builder) setAttributes(ctx context.Context, s *state) error {
	var at time.Time
	if b.cfg.DeprecateAt != "" {
		var err error
		if at, err = time.Parse(time.RFC3339, b.cfg.DeprecateAt); err != nil {
			return fmt.Errorf("deprecate_at: %w", err) // checked at validate
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range b.regions() {
		id := s.amis[r]
		g.Go(func() error {
			rc, err := b.client(gctx, r)
			if err != nil {
				return err
			}
			if b.cfg.IMDSSupport != "" {
				_, err := rc.ModifyImageAttribute(gctx, &ec2.ModifyImageAttributeInput{
					ImageId:     aws.String(id),
					ImdsSupport: &types.AttributeValue{Value: aws.String(b.cfg.IMDSSupport)},
				})
				if err != nil {
					return fmt.Errorf("set imds_support of AMI %s in %s: %w", id, r, err)
				}
			}
			if !at.IsZero() {
				_, err := rc.EnableImageDeprecation(gctx, &ec2.EnableImageDeprecationInput{ImageId: aws.String(id), DeprecateAt: aws.Time(at)})
				if err != nil {
					return fmt.Errorf("deprecate AMI %s in %s: %w", id, r, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// removeAMIs deregisters, after a failed or cancelled build, every AMI
// the build registered (including one whose wait gave up) and deletes
// their snapshots.
func (b *Builder) removeAMIs(ctx context.Context, s *state) error {
	if !builder.Failed(ctx) {
		return nil
	}
	return b.removeMade(ctx, s)
}

// removeMade deregisters every AMI the build registered and deletes their
// snapshots.
func (b *Builder) removeMade(ctx context.Context, s *state) error {
	s.mu.Lock()
	made := slices.Clone(s.made)
	s.mu.Unlock()
	// An AMI whose create call was cut short (a parallel copy cancelled in
	// flight) was never recorded; it carries the build's tags.
	var errs []error
	for _, r := range b.regions() {
		c, err := b.client(ctx, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: b.runFilters()})
		if err != nil {
			errs = append(errs, fmt.Errorf("look for this build's AMIs in %s: %w", r, err))
			continue
		}
		for _, img := range out.Images {
			m := madeAMI{region: r, id: aws.ToString(img.ImageId)}
			if !slices.Contains(made, m) {
				made = append(made, m)
			}
		}
	}
	if err := b.deregister(ctx, made, ownSnapshots); err != nil {
		errs = append(errs, err)
	}
	// Snapshots of an AMI that never listed them (a copy cut short) carry
	// the build's tags too.
	for _, r := range b.regions() {
		if err := b.sweepSnapshots(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.mu.Lock()
	s.made = nil
	clear(s.amis)
	s.mu.Unlock()
	return nil
}

func (b *Builder) leftAMIs(s *state) string {
	var lines []string
	for _, m := range s.made {
		lines = append(lines, fmt.Sprintf("AMI %s in %s and its snapshots: aws ec2 deregister-image --region %s --image-id %s --delete-associated-snapshots",
			m.id, m.region, m.region, m.id))
	}
	return strings.Join(lines, "\n")
}

// Which snapshots deregister deletes with an AMI.
type snapshotScope int

const (
	keepSnapshots snapshotScope = iota
	// ownSnapshots are the snapshots the AMI lists that carry the build's
	// tags: an AMI the build made may also list a snapshot of the user's
	// (ami_block_device_mappings with snapshot_id).
	ownSnapshots
	// allSnapshots are every snapshot the AMI lists (force_delete_snapshot
	// on an AMI that force_deregister replaces).
	allSnapshots
)

// deregister deregisters the AMIs and deletes the snapshots of scope
// that they list.
func (b *Builder) deregister(ctx context.Context, amis []madeAMI, scope snapshotScope) error {
	var errs []error
	for _, m := range amis {
		c, err := b.client(ctx, m.region)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var snaps []string
		if scope != keepSnapshots {
			out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{m.id}})
			switch {
			case isNotFound(err):
				continue
			case err != nil:
				errs = append(errs, fmt.Errorf("describe AMI %s in %s: %w", m.id, m.region, err))
			default:
				for _, img := range out.Images {
					snaps = append(snaps, snapshotIDs(img)...)
				}
			}
		}
		if scope == ownSnapshots && len(snaps) > 0 {
			own, err := b.ownSnapshots(ctx, c, snaps)
			if err != nil {
				errs = append(errs, fmt.Errorf("snapshots of AMI %s in %s: %w", m.id, m.region, err))
			}
			snaps = own
		}
		err = b.retryCleanup(ctx, func(ctx context.Context) error {
			_, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(m.id)})
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("deregister AMI %s in %s: %w", m.id, m.region, err))
			continue
		}
		for _, sn := range snaps {
			if err := b.deleteSnapshot(ctx, c, m.region, sn); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// ownSnapshots returns those of ids that carry the build's tags.
func (b *Builder) ownSnapshots(ctx context.Context, c ec2API, ids []string) ([]string, error) {
	out, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{
		OwnerIds: []string{"self"},
		Filters:  append(b.runFilters(), types.Filter{Name: aws.String("snapshot-id"), Values: ids}),
	})
	if err != nil {
		return nil, err
	}
	var own []string
	for _, sn := range out.Snapshots {
		own = append(own, aws.ToString(sn.SnapshotId))
	}
	return own, nil
}

func (b *Builder) deleteSnapshot(ctx context.Context, c ec2API, region, id string) error {
	err := b.retryCleanup(ctx, func(ctx context.Context) error {
		_, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
		return err
	})
	if err != nil {
		return fmt.Errorf("delete snapshot %s in %s: %w", id, region, err)
	}
	return nil
}

// sweepSnapshots deletes the snapshots in region that carry this build's
// tags.
func (b *Builder) sweepSnapshots(ctx context.Context, region string) error {
	c, err := b.client(ctx, region)
	if err != nil {
		return err
	}
	out, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: b.runFilters()})
	if err != nil {
		return fmt.Errorf("look for this build's snapshots in %s: %w", region, err)
	}
	var errs []error
	for _, sn := range out.Snapshots {
		if err := b.deleteSnapshot(ctx, c, region, aws.ToString(sn.SnapshotId)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
