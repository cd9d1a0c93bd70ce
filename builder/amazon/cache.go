package amazon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/cache"
)

// TagCacheKey is the tag an AMI gets with the key of the build that made
// it: the next build with the same key reuses it (the cache's store for
// amazon-ebs is the AMIs themselves; bake cache ls does not list them).
const TagCacheKey = "bake:cache-key"

// baseKey is the key of what the instance starts as and runs with: the
// source AMI id (after source_ami_filter), the region, and the options that
// change what provisioners do on the instance: instance_type, user_data and
// the contents of user_data_file, launch_block_device_mappings,
// iam_instance_profile, metadata_options and the communicator's type and
// user.
func (b *Builder) baseKey(sourceAMI string) (cache.Key, error) {
	c := b.cfg
	h := cache.NewHasher("amazon-ebs base")
	h.String("source_ami", sourceAMI)
	h.String("region", c.Region)
	h.String("instance_type", c.InstanceType)
	h.Secret("user_data", c.UserData)
	if c.UserDataFile != "" {
		h.File("user_data_file", c.UserDataFile)
	}
	j, err := json.Marshal(struct {
		Launch   []BlockDevice
		Profile  string
		Metadata *MetadataOptions
		Comm     string
		User     string
	}{c.LaunchBlockDeviceMappings, c.IAMInstanceProfile, c.MetadataOptions, c.Type, c.Username})
	if err != nil {
		return "", err
	}
	h.String("options", string(j))
	return h.Sum()
}

// finalKey is the AMIs' key: the last step's, with what shapes the AMIs
// made from the instance: ami_virtualization_type, ami_regions,
// ami_block_device_mappings, ena_support, sriov_support, encrypt_boot,
// kms_key_id, region_kms_key_ids, imds_support, deprecate_at and the
// sharing options. Names, descriptions and tags are not in it.
func (b *Builder) finalKey(last cache.Key) cache.Key {
	if last == "" {
		return ""
	}
	c := b.cfg
	j, err := json.Marshal(struct {
		Virt                                        string
		Regions                                     []string
		Devices                                     []BlockDevice
		ENA                                         *bool
		Sriov                                       bool
		Encrypt                                     *bool
		KMS                                         string
		RegionKMS                                   map[string]string
		IMDS, Deprecate                             string
		Users, Groups, SnapshotUsers, SnapshotGroup []string
	}{c.AMIVirtType, c.AMIRegions, c.AMIBlockDeviceMappings, c.ENASupport, c.SriovSupport, c.EncryptBoot, c.KMSKeyID,
		c.RegionKMSKeyIDs, c.IMDSSupport, c.DeprecateAt, c.AMIUsers, c.AMIGroups, c.SnapshotUsers, c.SnapshotGroups})
	if err != nil {
		return ""
	}
	h := cache.NewHasher("amazon-ebs ami")
	h.Key("last", last)
	h.String("options", string(j))
	k, _ := h.Sum()
	return k
}

// reuse looks, before anything is created, for available AMIs of this
// account tagged with the build's key in every target region. When each
// region has one, the build is done: no instance is launched and the
// artifact names those AMIs. It returns nil when the cache holds none.
func (b *Builder) reuse(ctx context.Context, s *state) (*artifacts.Artifact, error) {
	cb := b.opts.Cache
	if cb == nil || b.cfg.SkipCreateAMI {
		return nil, nil
	}
	c, err := b.client(ctx, b.cfg.Region)
	if err != nil {
		return nil, err
	}
	s.ec2 = c
	if err := b.findSource(ctx, s); err != nil {
		return nil, err
	}
	base, err := b.baseKey(aws.ToString(s.source.ImageId))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil // the build reports the missing file
		}
		return nil, err
	}
	keys, err := cb.Keys(base, b.info(s))
	if err != nil {
		return nil, err
	}
	last := base
	if len(keys) > 0 {
		last = keys[len(keys)-1].Key
	}
	s.cacheKey = b.finalKey(last)
	cb.SetFinal(s.cacheKey, false)
	if s.cacheKey == "" {
		return nil, nil
	}
	found := map[string]types.Image{}
	for _, r := range b.regions() {
		rc, err := b.client(ctx, r)
		if err != nil {
			return nil, err
		}
		out, err := rc.DescribeImages(ctx, &ec2.DescribeImagesInput{
			Owners: []string{"self"},
			Filters: []types.Filter{
				{Name: aws.String("tag:" + TagCacheKey), Values: []string{s.cacheKey.Hex()}},
				{Name: aws.String("state"), Values: []string{string(types.ImageStateAvailable)}},
			},
		})
		if err != nil {
			return nil, fmt.Errorf("look for cached AMIs in %s: %w", r, err)
		}
		imgs := out.Images
		sort.Slice(imgs, func(i, j int) bool { return aws.ToString(imgs[i].CreationDate) > aws.ToString(imgs[j].CreationDate) })
		for _, img := range imgs {
			if img.State == types.ImageStateAvailable && tagValue(img.Tags, TagCacheKey) == s.cacheKey.Hex() {
				found[r] = img
				break
			}
		}
		if _, ok := found[r]; !ok {
			return nil, nil
		}
	}
	runID := tagValue(found[b.cfg.Region].Tags, TagRunID)
	for r, img := range found {
		s.amis[r] = aws.ToString(img.ImageId)
		s.snaps[r] = snapshotIDs(img)
	}
	cb.SetFinal(s.cacheKey, true)
	for i := range keys {
		cb.Reused(i, &cache.Entry{Key: keys[i].Key, RunID: runID})
	}
	s.ui.Say(fmt.Sprintf("cache: reusing AMI %s in %s (key %s, built by run %s); no instance is launched",
		s.amis[b.cfg.Region], b.cfg.Region, s.cacheKey.Short(), runID))
	art := b.artifact(s)
	art.Destroy = nil // the cache's AMIs: they are not this run's to remove
	return art, nil
}

// tagCached tags the AMIs the build made with its key, so that the next
// build with the same key reuses them. A failure is reported, not fatal.
func (b *Builder) tagCached(ctx context.Context, s *state) {
	if b.opts.Cache == nil || s.cacheKey == "" {
		return
	}
	for _, r := range b.regions() {
		id := s.amis[r]
		if id == "" {
			continue
		}
		rc, err := b.client(ctx, r)
		if err == nil {
			_, err = rc.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id},
				Tags: []types.Tag{{Key: aws.String(TagCacheKey), Value: aws.String(s.cacheKey.Hex())}}})
		}
		if err != nil {
			s.ui.Error(fmt.Sprintf("cache: tag AMI %s in %s with its key: %s", id, r, err))
		}
	}
}

func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}
