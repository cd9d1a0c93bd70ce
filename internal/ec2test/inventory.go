package ec2test

import (
	"maps"
	"slices"
	"sort"
	"time"
)

// Instance is an EC2 instance.
type Instance struct {
	ID, Region, ImageID, InstanceType, KeyName string
	// State is pending, running, stopping, stopped, shutting-down or
	// terminated.
	State              string
	SubnetID, VPCID    string
	AZ                 string
	GroupIDs           []string
	PublicIP           string
	PrivateIP          string
	UserData           string // base64, as sent
	ClientToken        string
	IAMInstanceProfile string
	ShutdownBehavior   string
	// MetadataOptions are the instance metadata options it was launched
	// with (RunInstances MetadataOptions.*: HttpTokens,
	// HttpEndpoint, HttpPutResponseHopLimit, InstanceMetadataTags), by
	// field name; empty when none was sent.
	MetadataOptions map[string]string
	// VolumeTags are the tags its volumes got at launch (TagSpecification
	// volume).
	VolumeTags map[string]string
	// CPUCredits is CreditSpecification.CpuCredits ("unlimited"), as sent.
	CPUCredits string
	// SpotMaxPrice is set when the instance is a spot instance: the
	// maximum price asked, "" meaning the on-demand price.
	Spot         bool
	SpotMaxPrice string
	// SpotTags are the tags of its spot request (launch template
	// TagSpecification spot-instances-request).
	SpotTags map[string]string
	// FleetID is the EC2 fleet that launched it, if any.
	FleetID      string
	LaunchTime   time.Time
	BlockDevices []BlockDevice
	Tags         map[string]string
	// History lists the states the instance went through, in order.
	History []string

	until time.Time // when the current transitional state ends
}

func (in *Instance) setState(st string) {
	in.State = st
	in.History = append(in.History, st)
}

// Live reports whether the instance is neither terminated nor on its way
// there.
func (in *Instance) Live() bool { return in.State != "terminated" && in.State != "shutting-down" }

// KeyPair is an EC2 key pair.
type KeyPair struct {
	ID, Name, Region, Type, Fingerprint string
	// PublicKey is the authorized_keys line.
	PublicKey string
	Tags      map[string]string
}

// SecurityGroup is a VPC security group.
type SecurityGroup struct {
	ID, Name, Description, VPCID, Region string
	Ingress                              []IPPermission
	Tags                                 map[string]string
}

// IPPermission is one ingress rule.
type IPPermission struct {
	Protocol       string
	FromPort       int
	ToPort         int
	CIDRs          []string // IPv4 blocks (IpRanges)
	IPv6CIDRs      []string // IPv6 blocks (Ipv6Ranges)
	SourceGroupIDs []string
}

// VPC is a virtual private cloud.
type VPC struct {
	ID, Region, CIDR string
	Default          bool
	Tags             map[string]string
}

// Subnet is a VPC subnet.
type Subnet struct {
	ID, Region, VPCID, AZ, CIDR string
	Free                        int
	Default, MapPublicIP        bool
	Tags                        map[string]string
}

// Image is an AMI.
type Image struct {
	ID, Region, Name, Description string
	// Owner is the owning account id; OwnerAlias is "amazon" for
	// Amazon's images, else empty.
	Owner, OwnerAlias string
	// State is pending, available or failed.
	State              string
	Architecture       string
	VirtualizationType string
	RootDeviceName     string
	CreationDate       time.Time
	Public             bool
	BlockDevices       []BlockDevice
	Tags               map[string]string
	// SourceInstanceID is the instance CreateImage made it from;
	// SourceRegion and SourceImageID what CopyImage copied.
	SourceInstanceID, SourceRegion, SourceImageID string
	// LaunchUsers and LaunchGroups are its launch permissions.
	LaunchUsers, LaunchGroups []string
	ENASupport                bool
	// CopyDurationMinutes is CopyImage's
	// SnapshotCopyCompletionDurationMinutes, as sent.
	CopyDurationMinutes int
	// IMDSSupport is "v2.0" once ModifyImageAttribute set it.
	IMDSSupport string
	// DeprecationTime is when EnableImageDeprecation deprecates it.
	DeprecationTime time.Time

	until time.Time
}

func (img *Image) snapshotIDs() []string {
	var ids []string
	for _, bd := range img.BlockDevices {
		if bd.SnapshotID != "" {
			ids = append(ids, bd.SnapshotID)
		}
	}
	return ids
}

// BlockDevice is a block device mapping of an image or instance.
type BlockDevice struct {
	DeviceName          string
	SnapshotID          string
	VolumeSize          int
	VolumeType          string
	DeleteOnTermination bool
	Encrypted           bool
	KMSKeyID            string
	NoDevice            bool
}

// Snapshot is an EBS snapshot.
type Snapshot struct {
	ID, Region, Description, VolumeID, Owner string
	// State is pending, completed or error.
	State        string
	Progress     string
	VolumeSize   int
	Encrypted    bool
	KMSKeyID     string
	StartTime    time.Time
	Tags         map[string]string
	VolumeUsers  []string
	VolumeGroups []string

	until time.Time
}

// LaunchTemplate is an EC2 launch template (one version).
type LaunchTemplate struct {
	ID, Name, Region string
	// Data is the LaunchTemplateData as sent, without its prefix
	// ("ImageId", "InstanceMarketOptions.SpotOptions.MaxPrice").
	Data map[string]string
	Tags map[string]string
}

// Fleet is an EC2 fleet of type instant.
type Fleet struct {
	ID, Region, Type string
	// State is active, or deleted-terminating once deleted.
	State string
	// AllocationStrategy is SpotOptions.AllocationStrategy, as sent.
	AllocationStrategy string
	// InstanceTypes are the overrides' instance types, in order.
	InstanceTypes []string
	InstanceIDs   []string
	Tags          map[string]string
}

// Inventory is a copy of the server's state, across regions, each list
// sorted by region then id.
type Inventory struct {
	Instances      []Instance
	KeyPairs       []KeyPair
	SecurityGroups []SecurityGroup // without the default groups
	Images         []Image
	Snapshots      []Snapshot
	// LaunchTemplates and Fleets (deleted ones included, in state
	// deleted*).
	LaunchTemplates []LaunchTemplate
	Fleets          []Fleet
}

// Inventory returns a copy of the current state.
func (s *Server) Inventory() Inventory {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(time.Now())
	var inv Inventory
	for _, rn := range sortedKeys(s.regions) {
		r := s.regions[rn]
		for _, id := range sortedKeys(r.instances) {
			in := *r.instances[id]
			in.Tags, in.History, in.GroupIDs = maps.Clone(in.Tags), slices.Clone(in.History), slices.Clone(in.GroupIDs)
			in.MetadataOptions, in.VolumeTags, in.SpotTags = maps.Clone(in.MetadataOptions), maps.Clone(in.VolumeTags), maps.Clone(in.SpotTags)
			inv.Instances = append(inv.Instances, in)
		}
		for _, id := range sortedKeys(r.keyPairs) {
			kp := *r.keyPairs[id]
			kp.Tags = maps.Clone(kp.Tags)
			inv.KeyPairs = append(inv.KeyPairs, kp)
		}
		for _, id := range sortedKeys(r.groups) {
			g := *r.groups[id]
			if g.Name == "default" {
				continue
			}
			g.Tags, g.Ingress = maps.Clone(g.Tags), slices.Clone(g.Ingress)
			inv.SecurityGroups = append(inv.SecurityGroups, g)
		}
		for _, id := range sortedKeys(r.images) {
			img := *r.images[id]
			img.Tags, img.BlockDevices = maps.Clone(img.Tags), slices.Clone(img.BlockDevices)
			img.LaunchUsers, img.LaunchGroups = slices.Clone(img.LaunchUsers), slices.Clone(img.LaunchGroups)
			inv.Images = append(inv.Images, img)
		}
		for _, id := range sortedKeys(r.snapshots) {
			sn := *r.snapshots[id]
			sn.Tags = maps.Clone(sn.Tags)
			sn.VolumeUsers, sn.VolumeGroups = slices.Clone(sn.VolumeUsers), slices.Clone(sn.VolumeGroups)
			inv.Snapshots = append(inv.Snapshots, sn)
		}
		for _, id := range sortedKeys(r.templates) {
			lt := *r.templates[id]
			lt.Tags, lt.Data = maps.Clone(lt.Tags), maps.Clone(lt.Data)
			inv.LaunchTemplates = append(inv.LaunchTemplates, lt)
		}
		for _, id := range sortedKeys(r.fleets) {
			f := *r.fleets[id]
			f.Tags, f.InstanceIDs, f.InstanceTypes = maps.Clone(f.Tags), slices.Clone(f.InstanceIDs), slices.Clone(f.InstanceTypes)
			inv.Fleets = append(inv.Fleets, f)
		}
	}
	return inv
}

// InstancesIn returns the instances in the given states (all when none
// is given).
func (inv Inventory) InstancesIn(states ...string) []Instance {
	var out []Instance
	for _, in := range inv.Instances {
		if len(states) == 0 || slices.Contains(states, in.State) {
			out = append(out, in)
		}
	}
	return out
}

// ImagesTagged returns the images whose tag key has value.
func (inv Inventory) ImagesTagged(key, value string) []Image {
	var out []Image
	for _, img := range inv.Images {
		if img.Tags[key] == value {
			out = append(out, img)
		}
	}
	return out
}

// AddImage registers an available image (a base AMI for the tests) made
// of one root snapshot, and returns its id. Empty fields get defaults:
// a new id, the server's account as owner, x86_64, hvm, /dev/xvda of
// 8 GiB, now as creation date.
func (s *Server) AddImage(regionName string, img Image) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[regionName]
	if r == nil {
		panic("ec2test: unknown region " + regionName)
	}
	if img.ID == "" {
		img.ID = newID("ami")
	}
	img.Region = regionName
	if img.Owner == "" {
		img.Owner = s.opts.Account
	}
	if img.State == "" {
		img.State = "available"
	}
	if img.Architecture == "" {
		img.Architecture = "x86_64"
	}
	if img.VirtualizationType == "" {
		img.VirtualizationType = "hvm"
	}
	if img.RootDeviceName == "" {
		img.RootDeviceName = "/dev/xvda"
	}
	if img.CreationDate.IsZero() {
		img.CreationDate = time.Now().UTC()
	}
	if img.Tags == nil {
		img.Tags = map[string]string{}
	}
	if len(img.BlockDevices) == 0 {
		sn := &Snapshot{ID: newID("snap"), Region: regionName, Owner: img.Owner, State: "completed", Progress: "100%",
			VolumeID: newID("vol"), VolumeSize: 8, StartTime: img.CreationDate, Tags: map[string]string{},
			Description: "base snapshot of " + img.ID}
		r.snapshots[sn.ID] = sn
		img.BlockDevices = []BlockDevice{{DeviceName: img.RootDeviceName, SnapshotID: sn.ID, VolumeSize: 8, VolumeType: "gp2", DeleteOnTermination: true}}
	}
	r.images[img.ID] = &img
	return img.ID
}

// AddSnapshot adds a completed snapshot (one a test's user made) and
// returns its id. Empty fields get defaults: a new id, the server's
// account as owner, 8 GiB, now as start time.
func (s *Server) AddSnapshot(regionName string, sn Snapshot) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[regionName]
	if r == nil {
		panic("ec2test: unknown region " + regionName)
	}
	if sn.ID == "" {
		sn.ID = newID("snap")
	}
	sn.Region = regionName
	if sn.Owner == "" {
		sn.Owner = s.opts.Account
	}
	sn.State, sn.Progress = "completed", "100%"
	if sn.VolumeID == "" {
		sn.VolumeID = newID("vol")
	}
	if sn.VolumeSize == 0 {
		sn.VolumeSize = 8
	}
	if sn.StartTime.IsZero() {
		sn.StartTime = time.Now().UTC()
	}
	sn.Tags = maps.Clone(sn.Tags)
	if sn.Tags == nil {
		sn.Tags = map[string]string{}
	}
	r.snapshots[sn.ID] = &sn
	return sn.ID
}

// AddVPC adds a VPC and returns its id.
func (s *Server) AddVPC(regionName, cidr string, tags map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := &VPC{ID: newID("vpc"), Region: regionName, CIDR: cidr, Tags: maps.Clone(tags)}
	if v.Tags == nil {
		v.Tags = map[string]string{}
	}
	s.regions[regionName].vpcs[v.ID] = v
	sg := &SecurityGroup{ID: newID("sg"), Name: "default", VPCID: v.ID, Region: regionName, Tags: map[string]string{}}
	s.regions[regionName].groups[sg.ID] = sg
	return v.ID
}

// AddSubnet adds a subnet to a VPC and returns its id.
func (s *Server) AddSubnet(regionName, vpcID, az, cidr string, free int, tags map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := &Subnet{ID: newID("subnet"), Region: regionName, VPCID: vpcID, AZ: az, CIDR: cidr, Free: free, Tags: maps.Clone(tags)}
	if sn.Tags == nil {
		sn.Tags = map[string]string{}
	}
	s.regions[regionName].subnets[sn.ID] = sn
	return sn.ID
}

// Actions returns the actions of the calls so far, in order.
func (s *Server) Actions() []string {
	var out []string
	for _, c := range s.Calls() {
		out = append(out, c.Action)
	}
	return out
}

// sortedImages returns images sorted by id, for stable answers.
func sortedImages(m map[string]*Image) []*Image {
	out := make([]*Image, 0, len(m))
	for _, img := range m {
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
