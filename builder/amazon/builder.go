package amazon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/cache"
	"github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/ui"
)

// Tags bake puts on every EC2 object it creates (instance, volumes, key
// pair, security group, AMIs, snapshots), so that anything a crash left
// behind can be found:
//
//	aws ec2 describe-instances --filters Name=tag:bake:run-id,Values=RUN
const (
	TagRunID = "bake:run-id"
	TagBuild = "bake:build"
)

// BuilderType is the source type this package builds.
const BuilderType = "amazon-ebs"

// Builder is the amazon-ebs source: it launches an EC2 instance from the
// source AMI, hands it to the provisioners over SSH, stops it and makes an
// AMI of it, copied to ami_regions and shared as asked.
type Builder struct {
	cfg  *Config
	opts builder.Options
	// name is the build's "type.name".
	name string

	tuning tuning
	// newClient makes the EC2 client of a region.
	newClient func(ctx context.Context, region string) (ec2API, error)
	// checkIPURL answers with the caller's public address, to restrict the
	// temporary security group to it.
	checkIPURL string

	// newIAM makes the IAM client (temporary instance profile).
	newIAM func(ctx context.Context) (iamAPI, error)

	mu      sync.Mutex
	clients map[string]ec2API
	iam     iamAPI

	// copies are the rendered description and tags of each ami_regions
	// copy (see renderTemplates).
	copies map[string]rendered
}

var _ builder.Builder = (*Builder)(nil)

// New returns the builder for cfg, a Config that went through Prepare.
func New(cfg *Config, opts builder.Options) *Builder {
	name := opts.BuildName(BuilderType)
	b := &Builder{cfg: cfg, opts: opts, name: name, checkIPURL: "https://checkip.amazonaws.com", clients: map[string]ec2API{}}
	b.newClient = func(ctx context.Context, region string) (ec2API, error) {
		return newEC2(ctx, &b.cfg.AccessConfig, region, b.tuning)
	}
	b.newIAM = func(ctx context.Context) (iamAPI, error) {
		return newIAM(ctx, &b.cfg.AccessConfig, b.cfg.Region, b.tuning)
	}
	return b
}

// NewBuilder is the engine's constructor for the "amazon-ebs" source type:
// cfg must be a prepared *Config.
func NewBuilder(cfg templates.Config, opts builder.Options) (builder.Builder, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("amazon-ebs builder: config is %T, not *amazon.Config", cfg)
	}
	return New(c, opts), nil
}

// client returns the EC2 client of region, made once.
func (b *Builder) client(ctx context.Context, region string) (ec2API, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.clients[region]; c != nil {
		return c, nil
	}
	c, err := b.newClient(ctx, region)
	if err != nil {
		return nil, err
	}
	b.clients[region] = c
	return c, nil
}

// madeAMI is an AMI this build registered.
type madeAMI struct {
	region, id string
}

// state is what the build's steps share.
type state struct {
	ui   ui.UI
	ec2  ec2API // the build region's client
	inst poller
	img  poller

	// existing are the AMIs, by region, that already carry ami_name and
	// that force_deregister replaces.
	existing map[string][]string

	source types.Image
	// cacheKey is the build's key in the cache (zero: none); the AMIs get
	// it as a tag.
	cacheKey cache.Key

	vpcID, subnetID, az string
	groupIDs            []string // security groups the instance runs in

	// A temporary resource is the build's to delete only once the call
	// that created it returned its id. After a failed create call, the
	// cleanup looks for one of the tried name that carries the build's
	// tags: the call may have created it without our hearing of it (an
	// answer lost, a retry refused as a duplicate), but a resource of that
	// name without the tags is someone else's.

	keyTried   string // temporary key pair name a create call was sent for
	keyName    string // key pair the instance gets
	keyID      string // the temporary key pair, once created: to delete
	privateKey []byte
	publicKey  string

	groupTried string // temporary security group name a create call was sent for
	groupID    string // the temporary security group, once created: to delete

	roleTried     string // temporary role name a create call was sent for
	role          string // the temporary role, once created: to delete
	rolePolicy    string // its inline policy, once put (or tried): to delete
	profileTried  string // temporary instance profile name a create call was sent for
	profile       string // the temporary instance profile, once created: to delete
	roleInProfile bool   // the role was (or may have been) added to the profile

	templateTried string // temporary launch template name a create call was sent for
	templateID    string // the temporary launch template, once created: to delete
	fleetTried    bool   // a CreateFleet call was sent and did not answer
	fleetID       string // the spot instance's fleet, once created: to delete

	clientToken string // set once RunInstances was attempted
	instanceID  string
	instance    types.Instance
	host        string

	comm *ssh.Comm

	mu    sync.Mutex // guards the fields below during parallel copies
	made  []madeAMI  // every AMI registered, deregistered again on failure
	amis  map[string]string
	snaps map[string][]string
}

// Build runs the steps. Every instance, key pair and security group it
// made is gone when it returns; after a failure, so are the AMIs and
// snapshots it made.
func (b *Builder) Build(ctx context.Context, ui ui.UI, hook builder.Hook) (*artifacts.Artifact, error) {
	s := &state{ui: ui, existing: map[string][]string{}, amis: map[string]string{}, snaps: map[string][]string{}}
	s.inst, s.img = pollers(&b.cfg.AccessConfig, b.tuning.withDefaults().pollUnit)
	if art, err := b.reuse(ctx, s); err != nil || art != nil {
		return art, err
	}
	steps := []builder.Step[state]{
		{Name: "check region and AMI name", Run: b.precheck},
		{Name: "find source AMI", Run: b.findSource},
		{Name: "find network", Run: b.findNetwork},
	}
	steps = append(steps, b.launchSteps("launch instance")...)
	steps = append(steps,
		builder.Step[state]{Name: "provision", Run: func(ctx context.Context, s *state) error { return b.provision(ctx, s, hook) }, Cleanup: closeComm},
	)
	if !b.cfg.SkipCreateAMI {
		steps = append(steps,
			builder.Step[state]{Name: "stop instance", Run: b.stop},
			builder.Step[state]{Name: "create AMI", Run: b.createAMI, Cleanup: b.removeAMIs, Leftover: b.leftAMIs},
		)
		if len(b.cfg.AMIRegions) > 0 {
			steps = append(steps, builder.Step[state]{Name: "copy AMI to regions", Run: b.copyAMI})
		}
		if b.sharing() {
			steps = append(steps, builder.Step[state]{Name: "share AMI", Run: b.share})
		}
		if b.cfg.IMDSSupport != "" || b.cfg.DeprecateAt != "" {
			steps = append(steps, builder.Step[state]{Name: "set AMI attributes", Run: b.setAttributes})
		}
	}
	if err := builder.RunSteps(ctx, b.opts, ui, s, steps); err != nil {
		// Steps that all succeeded followed by a failed cleanup still fail
		// the build, which then returns no artifact: its AMIs would be
		// orphans, so they go too.
		if len(s.made) > 0 && b.opts.OnError != builder.OnErrorAbort && b.opts.OnError != builder.OnErrorCleanupProv {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cleanupTimeout())
			defer cancel()
			err = errors.Join(err, b.removeMade(cctx, s))
		}
		return nil, err
	}
	if b.cfg.SkipCreateAMI {
		return nil, nil
	}
	b.tagCached(ctx, s)
	return b.artifact(s), nil
}

// launchSteps are the steps that start an instance from s.source: the
// temporary key pair, security group and instance profile the build
// needs, then the instance (named launch, or a spot instance through a
// launch template). The build and its test machine share them.
func (b *Builder) launchSteps(launch string) []builder.Step[state] {
	var steps []builder.Step[state]
	if b.needsTempKey() {
		steps = append(steps, builder.Step[state]{Name: "create temporary key pair", Run: b.createKeyPair, Cleanup: b.deleteKeyPair, Leftover: b.leftKeyPair})
	}
	if b.needsTempGroup() {
		steps = append(steps, builder.Step[state]{Name: "create temporary security group", Run: b.createGroup, Cleanup: b.deleteGroup, Leftover: b.leftGroup})
	}
	if b.cfg.TemporaryIAMInstanceProfilePolicyDocument != nil {
		steps = append(steps, builder.Step[state]{Name: "create temporary instance profile", Run: b.createProfile, Cleanup: b.deleteProfile, Leftover: b.leftProfile})
	}
	if b.spot() {
		return append(steps,
			builder.Step[state]{Name: "create launch template", Run: b.createTemplate, Cleanup: b.deleteTemplate, Leftover: b.leftTemplate},
			builder.Step[state]{Name: "launch spot instance", Run: b.launchSpot, Cleanup: b.terminateSpot, Leftover: b.leftSpot})
	}
	return append(steps, builder.Step[state]{Name: launch, Run: b.launch, Cleanup: b.terminate, Leftover: b.leftInstance})
}

func (b *Builder) cleanupTimeout() time.Duration {
	if b.opts.CleanupTimeout > 0 {
		return b.opts.CleanupTimeout
	}
	return 5 * time.Minute
}

// regions returns the build region followed by ami_regions.
func (b *Builder) regions() []string {
	return append([]string{b.cfg.Region}, b.cfg.AMIRegions...)
}

// tags returns extra with the run's tags added, sorted by key.
func (b *Builder) tags(extra map[string]string) []types.Tag {
	m := maps.Clone(extra)
	if m == nil {
		m = map[string]string{}
	}
	m[TagRunID] = b.opts.RunID
	m[TagBuild] = b.name
	keys := slices.Sorted(maps.Keys(m))
	out := make([]types.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

func (b *Builder) tagSpec(rt types.ResourceType, extra map[string]string) types.TagSpecification {
	return types.TagSpecification{ResourceType: rt, Tags: b.tags(extra)}
}

// runFilters select what this build made by its tags.
func (b *Builder) runFilters() []types.Filter {
	return []types.Filter{
		{Name: aws.String("tag:" + TagRunID), Values: []string{b.opts.RunID}},
		{Name: aws.String("tag:" + TagBuild), Values: []string{b.name}},
	}
}

// tempName returns a name for a temporary resource: bake_, the build id,
// a random suffix.
func (b *Builder) tempName() string {
	r := make([]byte, 4)
	_, _ = rand.Read(r)
	id := b.opts.BuildID
	if id == "" {
		id = b.name
	}
	id = strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			return c
		}
		return '_'
	}, id)
	if len(id) > 80 {
		id = id[:80]
	}
	return "bake_" + id + "_" + hex.EncodeToString(r)
}

// artifact describes the AMIs: one item per region, the build region
// first.
func (b *Builder) artifact(s *state) *artifacts.Artifact {
	art := &artifacts.Artifact{
		Builder: BuilderType,
		Build:   b.name,
		Parent: &artifacts.Parent{
			Ref:        b.cfg.SourceAMI,
			SourceAMIs: map[string]string{b.cfg.Region: aws.ToString(s.source.ImageId)},
		},
		State: map[string]string{"source_ami": aws.ToString(s.source.ImageId), "ami_name": b.cfg.AMIName},
	}
	if art.Parent.Ref == "" {
		art.Parent.Ref = aws.ToString(s.source.Name)
	}
	var ids []string
	for _, r := range b.regions() {
		id := s.amis[r]
		if id == "" {
			continue
		}
		ids = append(ids, r+":"+id)
		art.Items = append(art.Items, artifacts.Item{
			ExternalIdentifier: id,
			Region:             r,
			URI:                amiARN(r, id),
			Format:             "ami",
		})
		art.State["region:"+r] = id
		snaps := slices.Clone(s.snaps[r])
		sort.Strings(snaps)
		art.State["snapshots:"+r] = strings.Join(snaps, ",")
	}
	art.ID = strings.Join(ids, ",")
	made := make([]madeAMI, 0, len(s.amis))
	for _, r := range b.regions() {
		if id := s.amis[r]; id != "" {
			made = append(made, madeAMI{region: r, id: id})
		}
	}
	art.Destroy = func(ctx context.Context) error { return b.deregister(ctx, made, ownSnapshots) }
	return art
}

// amiARN returns the ARN of an AMI.
func amiARN(region, id string) string {
	partition := "aws"
	switch {
	case strings.HasPrefix(region, "cn-"):
		partition = "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		partition = "aws-us-gov"
	}
	return "arn:" + partition + ":ec2:" + region + "::image/" + id
}
