package amazon

import (
	"encoding/json"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/templates"
	"github.com/bake-tool/bake/templates/interpolate"
)

// Enumerations.
var (
	SSHInterfaces      = []string{"public_ip", "private_ip", "public_dns", "private_dns"}
	VolumeTypes        = []string{"standard", "io1", "io2", "gp2", "gp3", "sc1", "st1"}
	ShutdownBehaviors  = []string{"stop", "terminate"}
	TemporaryKeyTypes  = []string{"ed25519", "rsa"}
	DefaultVolumeType  = "gp2"
	DefaultKeyPairType = "ed25519"
)

// Config is the amazon-ebs source's block, with Packer's option names.
type Config struct {
	AccessConfig

	// AMIName is the new AMI's name; required, 3–128 characters of
	// letters, digits and ( ) [ ] space . / - ' @ _.
	AMIName        string `hcl:"ami_name"`
	AMIDescription string `hcl:"ami_description"`
	// AMIVirtType is accepted as Packer's amazon-ebs accepts it: hvm or
	// paravirtual, with no effect, since CreateImage takes the instance's.
	AMIVirtType    string            `hcl:"ami_virtualization_type"`
	AMIRegions     []string          `hcl:"ami_regions"`
	AMIUsers       []string          `hcl:"ami_users"`
	AMIGroups      []string          `hcl:"ami_groups"`
	SnapshotUsers  []string          `hcl:"snapshot_users"`
	SnapshotGroups []string          `hcl:"snapshot_groups"`
	Tags           map[string]string `hcl:"tags"`
	RunTags        map[string]string `hcl:"run_tags"`
	RunVolumeTags  map[string]string `hcl:"run_volume_tags"`
	SnapshotTags   map[string]string `hcl:"snapshot_tags"`
	ENASupport     *bool             `hcl:"ena_support"`
	SriovSupport   bool              `hcl:"sriov_support"`

	// EncryptBoot encrypts the AMI's boot volume (with KMSKeyID, or the
	// default key); RegionKMSKeyIDs gives a key per ami_regions entry.
	EncryptBoot     *bool             `hcl:"encrypt_boot"`
	KMSKeyID        string            `hcl:"kms_key_id"`
	RegionKMSKeyIDs map[string]string `hcl:"region_kms_key_ids"`

	// IMDSSupport = "v2.0" makes instances launched from the AMI require
	// IMDSv2 (ModifyImageAttribute ImdsSupport, as Packer does).
	IMDSSupport string `hcl:"imds_support"`
	// DeprecateAt is when the AMIs are deprecated (EnableImageDeprecation),
	// an RFC 3339 time like "2027-01-02T15:04:05Z".
	DeprecateAt string `hcl:"deprecate_at"`
	// SnapshotCopyDurationMinutes asks a time-based copy of the snapshots
	// of ami_regions copies (and the encrypt_boot copy): a completion
	// duration, a multiple of 15 minutes from 15 to 2880.
	SnapshotCopyDurationMinutes int64 `hcl:"snapshot_copy_duration_minutes"`

	ForceDeregister     bool `hcl:"force_deregister"`
	ForceDeleteSnapshot bool `hcl:"force_delete_snapshot"`
	SkipCreateAMI       bool `hcl:"skip_create_ami"`

	// InstanceType is required, unless spot_instance_types lists the
	// types a spot instance may have.
	InstanceType string `hcl:"instance_type"`
	// SpotPrice, when set, launches a spot instance through a launch
	// template and an instant EC2 fleet: the maximum hourly price, or
	// "auto" for at most the on-demand price.
	SpotPrice         string   `hcl:"spot_price"`
	SpotInstanceTypes []string `hcl:"spot_instance_types"`
	// SpotTags tag the spot request.
	SpotTags map[string]string `hcl:"spot_tags"`
	// SpotAllocationStrategy is the fleet's: lowest-price, diversified,
	// capacity-optimized or price-capacity-optimized.
	SpotAllocationStrategy string `hcl:"spot_allocation_strategy"`
	// Exactly one of SourceAMI and SourceAMIFilter picks the base AMI.
	SourceAMI        string     `hcl:"source_ami"`
	SourceAMIFilter  *AMIFilter `hcl:"source_ami_filter,block"`
	AvailabilityZone string     `hcl:"availability_zone"`
	EBSOptimized     bool       `hcl:"ebs_optimized"`
	// ShutdownBehavior is "stop" (default) or "terminate".
	ShutdownBehavior    string `hcl:"shutdown_behavior"`
	DisableStopInstance bool   `hcl:"disable_stop_instance"`
	IAMInstanceProfile  string `hcl:"iam_instance_profile"`
	// TemporaryIAMInstanceProfilePolicyDocument, when set, gives the
	// instance a temporary role with this inline policy, through a
	// temporary instance profile; all three are deleted after.
	TemporaryIAMInstanceProfilePolicyDocument *PolicyDocument `hcl:"temporary_iam_instance_profile_policy_document,block"`
	// MetadataOptions are the instance's metadata service options.
	MetadataOptions *MetadataOptions `hcl:"metadata_options,block"`
	// EnableUnlimitedCredits launches a burstable (T2, T3, T3a, T4g)
	// instance with unlimited CPU credits.
	EnableUnlimitedCredits bool   `hcl:"enable_unlimited_credits"`
	UserData               string `hcl:"user_data"`
	UserDataFile           string `hcl:"user_data_file"`

	SubnetID                          string               `hcl:"subnet_id"`
	SubnetFilter                      *SubnetFilter        `hcl:"subnet_filter,block"`
	VPCID                             string               `hcl:"vpc_id"`
	VPCFilter                         *VPCFilter           `hcl:"vpc_filter,block"`
	SecurityGroupID                   string               `hcl:"security_group_id"`
	SecurityGroupIDs                  []string             `hcl:"security_group_ids"`
	SecurityGroupFilter               *SecurityGroupFilter `hcl:"security_group_filter,block"`
	TemporarySecurityGroupSourceCIDRs []string             `hcl:"temporary_security_group_source_cidrs"`
	AssociatePublicIPAddress          *bool                `hcl:"associate_public_ip_address"`
	// SSHInterface is how the instance is reached: public_ip, private_ip,
	// public_dns or private_dns; empty picks public, then private.
	SSHInterface string `hcl:"ssh_interface"`
	// TemporaryKeyPairType is "ed25519" (default) or "rsa".
	TemporaryKeyPairType string `hcl:"temporary_key_pair_type"`

	LaunchBlockDeviceMappings []BlockDevice `hcl:"launch_block_device_mappings,block"`
	AMIBlockDeviceMappings    []BlockDevice `hcl:"ami_block_device_mappings,block"`

	communicator.Config
}

var _ templates.Config = (*Config)(nil)

// PolicyDocument is an IAM policy document, written as Packer writes it.
type PolicyDocument struct {
	Version   string      `hcl:"Version" json:"Version"`
	Statement []Statement `hcl:"Statement,block" json:"Statement"`
}

// Statement is one statement of a PolicyDocument.
type Statement struct {
	Effect   string   `hcl:"Effect" json:"Effect"`
	Action   []string `hcl:"Action" json:"Action"`
	Resource []string `hcl:"Resource" json:"Resource"`
}

// JSON returns the document as IAM takes it.
func (d *PolicyDocument) JSON() string {
	raw, _ := json.Marshal(d) // strings and lists only: cannot fail
	return string(raw)
}

// prepare checks the document.
func (d *PolicyDocument) prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !b.Has("Version") {
		d.Version = "2012-10-17"
	} else if b.Known("Version") {
		diags = b.OneOf(diags, "Version", d.Version, "2012-10-17", "2008-10-17")
	}
	if len(d.Statement) == 0 {
		diags = append(diags, b.Errorf("", "Missing required block", "The %s block needs at least one \"Statement\" block.", b.Type))
	}
	for i := range d.Statement {
		sb := b.Blocks["Statement"][i]
		diags = sb.Required(diags, "Effect", "Action", "Resource")
		if sb.Known("Effect") {
			diags = sb.OneOf(diags, "Effect", d.Statement[i].Effect, "Allow", "Deny")
		}
		for _, n := range []string{"Action", "Resource"} {
			list := d.Statement[i].Action
			if n == "Resource" {
				list = d.Statement[i].Resource
			}
			if sb.Known(n) && len(list) == 0 {
				diags = append(diags, sb.Errorf(n, "Invalid value", "%q is empty.", n))
			}
		}
	}
	return diags
}

// MetadataOptions is the metadata_options block: RunInstances'
// MetadataOptions.
type MetadataOptions struct {
	// HTTPEndpoint is "enabled" or "disabled".
	HTTPEndpoint string `hcl:"http_endpoint"`
	// HTTPTokens is "optional" or "required" (IMDSv2 only).
	HTTPTokens string `hcl:"http_tokens"`
	// HTTPPutResponseHopLimit is from 1 to 64.
	HTTPPutResponseHopLimit int32 `hcl:"http_put_response_hop_limit"`
	// InstanceMetadataTags is "enabled" or "disabled".
	InstanceMetadataTags string `hcl:"instance_metadata_tags"`
}

// SubnetFilter is the subnet_filter block.
type SubnetFilter struct {
	Filters  map[string]string `hcl:"filters"`
	MostFree bool              `hcl:"most_free"`
	Random   bool              `hcl:"random"`
}

// VPCFilter is the vpc_filter block.
type VPCFilter struct {
	Filters map[string]string `hcl:"filters"`
}

// SecurityGroupFilter is the security_group_filter block.
type SecurityGroupFilter struct {
	Filters map[string]string `hcl:"filters"`
}

// BlockDevice is one launch_block_device_mappings or
// ami_block_device_mappings entry.
type BlockDevice struct {
	DeviceName          string `hcl:"device_name"`
	VolumeSize          int64  `hcl:"volume_size"` // GiB
	VolumeType          string `hcl:"volume_type"`
	IOPS                *int32 `hcl:"iops"`
	Throughput          *int32 `hcl:"throughput"`
	DeleteOnTermination bool   `hcl:"delete_on_termination"`
	Encrypted           *bool  `hcl:"encrypted"`
	KMSKeyID            string `hcl:"kms_key_id"`
	SnapshotID          string `hcl:"snapshot_id"`
	VirtualName         string `hcl:"virtual_name"`
	NoDevice            bool   `hcl:"no_device"`
}

// amiNameRE and kmsKeyRE compile on first use (see roleARNRE).
var (
	amiNameRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$`) })
	accountRE  = regexp.MustCompile(`^[0-9]{12}$`)
	snapshotRE = regexp.MustCompile(`^snap-[0-9a-f]{8}([0-9a-f]{9})?$`)
	kmsKeyRE   = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key/[0-9a-f-]+|alias/[a-zA-Z0-9:/_-]+)|alias/[a-zA-Z0-9:/_-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)
	})
	deviceRE    = regexp.MustCompile(`^/dev/|^xvd[a-z]|^sd[a-z]|^hd[a-z]`)
	iopsRanges  = map[string][2]int32{"io1": {100, 64000}, "io2": {100, 256000}, "gp3": {3000, 16000}}
	throughputs = [2]int32{125, 1000}
)

// Prepare validates the block and fills in defaults.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = append(diags, c.AccessConfig.prepare(b, true)...)

	diags = b.Required(diags, "ami_name")
	diags = b.ExactlyOne(diags, "instance_type", "spot_instance_types")
	if b.Known("ami_name") { // rendered already: {{timestamp}} is a number here
		switch {
		case len(c.AMIName) < 3 || len(c.AMIName) > 128:
			diags = append(diags, b.Errorf("ami_name", "Invalid AMI name",
				"An AMI name must be 3 to 128 characters long; %q has %d.", c.AMIName, len(c.AMIName)))
		case !amiNameRE().MatchString(c.AMIName):
			bad := badAMINameChars(c.AMIName)
			diags = append(diags, b.Errorf("ami_name", "Invalid AMI name",
				"%q contains %s, which AMI names may not: use letters, digits, spaces and ( ) [ ] . / - ' @ _ (regex_replace() can replace the others).", c.AMIName, bad))
		}
	}
	if b.Known("ami_description") && !interpolate.Has(c.AMIDescription) && len(c.AMIDescription) > 255 {
		diags = append(diags, b.Errorf("ami_description", "Invalid value", "An AMI description may be 255 characters long at most, not %d.", len(c.AMIDescription)))
	}
	if b.Known("ami_virtualization_type") {
		switch c.AMIVirtType {
		case "hvm", "paravirtual":
			diags = append(diags, b.Warning("ami_virtualization_type", "Option has no effect",
				`amazon-ebs makes the AMI from the instance, whose virtualization type it keeps (Packer's amazon-ebs ignores this option too).`))
		default:
			diags = append(diags, b.Errorf("ami_virtualization_type", "Invalid value", `"ami_virtualization_type" is "hvm" or "paravirtual", not %q.`, c.AMIVirtType))
		}
	}
	diags = c.prepareSpot(b, diags)
	if b.Known("instance_type") && c.InstanceType == "" {
		diags = append(diags, b.Error("instance_type", "Invalid value", `"instance_type" must name an instance type, like "t3.micro".`))
	}

	// Source AMI.
	// Like Packer, only an empty source_ami is refused: EC2 judges the id
	// (its shape has changed before, from 8 to 17 hex digits).
	diags = b.ExactlyOne(diags, "source_ami", "source_ami_filter")
	if b.Known("source_ami") && strings.TrimSpace(c.SourceAMI) == "" {
		diags = append(diags, b.Error("source_ami", "Invalid AMI id", `"source_ami" is empty: name the AMI to start from, or use source_ami_filter.`))
	}
	if c.SourceAMIFilter != nil {
		diags = append(diags, c.SourceAMIFilter.prepare(b.Blocks["source_ami_filter"][0])...)
	}

	// Copies, sharing, encryption.
	seen := map[string]bool{}
	var regions []string
	if b.Known("ami_regions") {
		for i, r := range c.AMIRegions {
			switch {
			case !c.SkipRegionValidation && !regionRE.MatchString(r):
				diags = append(diags, b.ElementErrorf("ami_regions", i, "Invalid region", "%q is not an AWS region name like \"eu-west-1\".", r))
			case seen[r]:
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Duplicate region",
					Detail: "\"" + r + "\" is listed twice; the AMI is copied there once.", Subject: ptrRange(b.ElementRange("ami_regions", i))})
				continue
			case c.Region != "" && r == c.Region: // set, or taken from the AWS chain
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Build region in ami_regions",
					Detail: "\"" + r + "\" is the build region, where the AMI is made anyway; it is not copied there.", Subject: ptrRange(b.ElementRange("ami_regions", i))})
				seen[r] = true
				continue
			}
			seen[r] = true
			regions = append(regions, r)
		}
		c.AMIRegions = regions
	}
	diags = accounts(b, diags, "ami_users", c.AMIUsers)
	diags = accounts(b, diags, "snapshot_users", c.SnapshotUsers)
	diags = groups(b, diags, "ami_groups", c.AMIGroups)
	diags = groups(b, diags, "snapshot_groups", c.SnapshotGroups)

	encrypt := c.EncryptBoot != nil && *c.EncryptBoot
	if b.Known("kms_key_id") {
		if !b.IsUnknown("encrypt_boot") && !encrypt {
			diags = append(diags, b.Error("kms_key_id", "Option needs encrypt_boot",
				`"kms_key_id" is the key that encrypts the boot volume, so it needs encrypt_boot = true.`))
		}
		diags = kmsKey(b, diags, "kms_key_id", c.KMSKeyID)
	}
	if b.Known("region_kms_key_ids") {
		if !b.IsUnknown("encrypt_boot") && !encrypt {
			diags = append(diags, b.Error("region_kms_key_ids", "Option needs encrypt_boot",
				`"region_kms_key_ids" encrypts the copied AMIs, so it needs encrypt_boot = true.`))
		}
		keys := make([]string, 0, len(c.RegionKMSKeyIDs))
		for k := range c.RegionKMSKeyIDs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, r := range keys {
			if b.Known("ami_regions") && !seen[r] && r != c.Region {
				diags = append(diags, b.KeyErrorf("region_kms_key_ids", r, "Region not in ami_regions",
					"%q has a key in \"region_kms_key_ids\" but is not one of \"ami_regions\", so no AMI is copied there.", r))
			}
			if !kmsKeyRE().MatchString(c.RegionKMSKeyIDs[r]) {
				diags = append(diags, b.KeyErrorf("region_kms_key_ids", r, "Invalid KMS key",
					"%q is not a KMS key id, alias or ARN.", c.RegionKMSKeyIDs[r]))
			}
		}
		if b.Known("ami_regions") {
			for i, r := range c.AMIRegions {
				if _, ok := c.RegionKMSKeyIDs[r]; !ok {
					diags = append(diags, b.ElementErrorf("ami_regions", i, "Missing region key",
						"With \"region_kms_key_ids\", every region in \"ami_regions\" needs a key; %q has none.", r))
				}
			}
		}
	}
	if b.Known("force_delete_snapshot") && c.ForceDeleteSnapshot && !b.IsUnknown("force_deregister") && !c.ForceDeregister {
		diags = append(diags, b.Error("force_delete_snapshot", "Option needs force_deregister",
			`"force_delete_snapshot" deletes the snapshots of the AMI that force_deregister removes, so it needs force_deregister = true.`))
	}
	if b.Known("skip_create_ami") && c.SkipCreateAMI {
		for _, n := range []string{"ami_regions", "ami_users", "ami_groups", "snapshot_users", "snapshot_groups", "force_deregister"} {
			if b.Has(n) {
				diags = append(diags, b.Warningf(n, "Option ignored", "%q has no effect with skip_create_ami = true.", n))
			}
		}
	}

	if b.Known("imds_support") {
		diags = b.OneOf(diags, "imds_support", c.IMDSSupport, "v2.0")
	}
	if b.Known("deprecate_at") {
		if _, err := time.Parse(time.RFC3339, c.DeprecateAt); err != nil {
			diags = append(diags, b.Errorf("deprecate_at", "Invalid time",
				`%q is not an RFC 3339 time like "2027-01-02T15:04:05Z".`, c.DeprecateAt))
		}
	}
	if b.Known("snapshot_copy_duration_minutes") {
		if m := c.SnapshotCopyDurationMinutes; m < 15 || m > 2880 || m%15 != 0 {
			diags = append(diags, b.Errorf("snapshot_copy_duration_minutes", "Invalid value",
				`"snapshot_copy_duration_minutes" is a multiple of 15 from 15 to 2880, not %d.`, m))
		}
		if !b.Has("ami_regions") && !b.Has("encrypt_boot") {
			diags = append(diags, b.Warning("snapshot_copy_duration_minutes", "Option ignored",
				`"snapshot_copy_duration_minutes" applies to AMI copies, made only with "ami_regions" or "encrypt_boot".`))
		}
	}
	if b.Known("skip_create_ami") && c.SkipCreateAMI {
		for _, n := range []string{"imds_support", "deprecate_at", "snapshot_copy_duration_minutes"} {
			if b.Has(n) {
				diags = append(diags, b.Warningf(n, "Option ignored", "%q has no effect with skip_create_ami = true.", n))
			}
		}
	}

	// Instance.
	if d := c.TemporaryIAMInstanceProfilePolicyDocument; d != nil {
		diags = append(diags, d.prepare(b.Blocks["temporary_iam_instance_profile_policy_document"][0])...)
	}
	diags = b.AtMostOne(diags, "iam_instance_profile", "temporary_iam_instance_profile_policy_document")
	if m := c.MetadataOptions; m != nil {
		mb := b.Blocks["metadata_options"][0]
		if mb.Known("http_endpoint") {
			diags = mb.OneOf(diags, "http_endpoint", m.HTTPEndpoint, "enabled", "disabled")
		}
		if mb.Known("http_tokens") {
			diags = mb.OneOf(diags, "http_tokens", m.HTTPTokens, "optional", "required")
		}
		if mb.Known("instance_metadata_tags") {
			diags = mb.OneOf(diags, "instance_metadata_tags", m.InstanceMetadataTags, "enabled", "disabled")
		}
		if mb.Known("http_put_response_hop_limit") && (m.HTTPPutResponseHopLimit < 1 || m.HTTPPutResponseHopLimit > 64) {
			diags = append(diags, mb.Errorf("http_put_response_hop_limit", "Invalid value",
				`"http_put_response_hop_limit" is from 1 to 64, not %d.`, m.HTTPPutResponseHopLimit))
		}
	}
	if b.Known("enable_unlimited_credits") && c.EnableUnlimitedCredits && b.Has("spot_price") {
		diags = append(diags, b.Error("enable_unlimited_credits", "Conflicting options",
			`Unlimited CPU credits cannot be used with a spot instance ("spot_price").`))
	}
	if b.Known("enable_unlimited_credits") && c.EnableUnlimitedCredits && b.Known("instance_type") && !burstable(c.InstanceType) {
		diags = append(diags, b.Errorf("enable_unlimited_credits", "Option needs a burstable instance type",
			`Unlimited CPU credits exist for burstable instance types only (T2, T3, T3a, T4g), not %q.`, c.InstanceType))
	}

	if !b.Has("shutdown_behavior") {
		c.ShutdownBehavior = "stop"
	} else if b.Known("shutdown_behavior") {
		diags = b.OneOf(diags, "shutdown_behavior", c.ShutdownBehavior, ShutdownBehaviors...)
	}
	diags = b.AtMostOne(diags, "user_data", "user_data_file")
	if b.Known("user_data_file") {
		if err := templates.CheckReadable(c.UserDataFile, false); err != nil {
			diags = append(diags, b.Errorf("user_data_file", "User data file not found", "%s.", err))
		}
	}
	if b.Known("user_data") && len(c.UserData) > 16<<10 {
		diags = append(diags, b.Errorf("user_data", "User data too long", "EC2 takes at most 16 KiB of user data, not %d bytes.", len(c.UserData)))
	}

	// Network.
	diags = b.AtMostOne(diags, "subnet_id", "subnet_filter")
	diags = b.AtMostOne(diags, "vpc_id", "vpc_filter")
	diags = b.AtMostOne(diags, "security_group_id", "security_group_ids", "security_group_filter")
	if c.SubnetFilter != nil && c.SubnetFilter.MostFree && c.SubnetFilter.Random {
		sb := b.Blocks["subnet_filter"][0]
		diags = sb.AtMostOne(diags, "most_free", "random")
	}
	if b.Has("security_group_id") {
		c.SecurityGroupIDs = []string{c.SecurityGroupID}
	}
	if b.Known("temporary_security_group_source_cidrs") {
		if b.Has("security_group_id") || b.Has("security_group_ids") || b.Has("security_group_filter") {
			diags = append(diags, b.Warning("temporary_security_group_source_cidrs", "Option ignored",
				"No temporary security group is made when a security group is given."))
		}
		for i, cidr := range c.TemporarySecurityGroupSourceCIDRs {
			switch p, err := netip.ParsePrefix(cidr); {
			case err != nil:
				diags = append(diags, b.ElementErrorf("temporary_security_group_source_cidrs", i, "Invalid CIDR",
					"%q is not a CIDR block like \"203.0.113.0/24\" or \"2001:db8::/64\".", cidr))
			case p.Addr().Is4In6():
				// EC2 takes IPv4 blocks as such, IPv6 ones apart.
				diags = append(diags, b.ElementErrorf("temporary_security_group_source_cidrs", i, "Invalid CIDR",
					"%q is an IPv4 block written as IPv6: write it as %q.", cidr, netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0)).String()))
			}
		}
	}
	if b.Known("ssh_interface") {
		if c.SSHInterface == "session_manager" {
			diags = append(diags, b.Error("ssh_interface", "Unsupported value",
				`bake does not connect through AWS Session Manager; "ssh_interface" must be one of "public_ip", "private_ip", "public_dns", "private_dns".`))
		} else {
			diags = b.OneOf(diags, "ssh_interface", c.SSHInterface, SSHInterfaces...)
		}
		if strings.HasPrefix(c.SSHInterface, "public") && b.Known("associate_public_ip_address") && c.AssociatePublicIPAddress != nil && !*c.AssociatePublicIPAddress {
			diags = append(diags, b.Errorf("ssh_interface", "Conflicting options",
				"ssh_interface = %q needs a public address, but associate_public_ip_address = false.", c.SSHInterface))
		}
	}
	if !b.Has("temporary_key_pair_type") {
		c.TemporaryKeyPairType = DefaultKeyPairType
	} else if b.Known("temporary_key_pair_type") {
		diags = b.OneOf(diags, "temporary_key_pair_type", c.TemporaryKeyPairType, TemporaryKeyTypes...)
	}

	// Block devices.
	for _, n := range []string{"launch_block_device_mappings", "ami_block_device_mappings"} {
		list := c.LaunchBlockDeviceMappings
		if n == "ami_block_device_mappings" {
			list = c.AMIBlockDeviceMappings
		}
		names := map[string]bool{}
		for i := range list {
			db := b.Blocks[n][i]
			diags = append(diags, list[i].prepare(db)...)
			if d := list[i].DeviceName; d != "" {
				if names[d] {
					diags = append(diags, db.Errorf("device_name", "Duplicate device", "%q is mapped twice in %q.", d, n))
				}
				names[d] = true
			}
		}
	}

	diags = append(diags, c.Config.Prepare(b)...)
	if c.Type == communicator.SSH {
		diags = b.Required(diags, "ssh_username")
	}
	return diags
}

// prepare validates one block device mapping whose attributes are in b.
func (d *BlockDevice) prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = b.Required(diags, "device_name")
	if b.Known("device_name") && !deviceRE.MatchString(d.DeviceName) {
		diags = append(diags, b.Errorf("device_name", "Invalid device name", `%q is not a device name like "/dev/xvda" or "/dev/sdf".`, d.DeviceName))
	}
	if d.NoDevice {
		return diags
	}
	if !b.Has("volume_type") {
		d.VolumeType = DefaultVolumeType
	} else if b.Known("volume_type") {
		diags = b.OneOf(diags, "volume_type", d.VolumeType, VolumeTypes...)
	}
	if b.Known("volume_size") && (d.VolumeSize < 1 || d.VolumeSize > 65536) {
		diags = append(diags, b.Errorf("volume_size", "Invalid value", `"volume_size" is in GiB, from 1 to 65536, not %d.`, d.VolumeSize))
	}
	if !b.Has("volume_size") && !b.Has("snapshot_id") && !b.Has("virtual_name") && !b.IsUnknown("volume_size") {
		diags = append(diags, b.Error("", "Missing volume size",
			`A new EBS volume needs "volume_size" (GiB), unless it is made from "snapshot_id".`))
	}
	if b.Known("snapshot_id") && !snapshotRE.MatchString(d.SnapshotID) {
		diags = append(diags, b.Errorf("snapshot_id", "Invalid snapshot id", `%q is not a snapshot id like "snap-0123456789abcdef0".`, d.SnapshotID))
	}
	r, ranged := iopsRanges[d.VolumeType]
	switch {
	case b.Known("iops") && !ranged:
		diags = append(diags, b.Errorf("iops", "Option not valid for volume type",
			`"iops" applies to io1, io2 and gp3 volumes, not %q.`, d.VolumeType))
	case b.Known("iops") && (*d.IOPS < r[0] || *d.IOPS > r[1]):
		diags = append(diags, b.Errorf("iops", "Invalid value", "A %s volume takes from %d to %d IOPS, not %d.", d.VolumeType, r[0], r[1], *d.IOPS))
	case !b.Has("iops") && (d.VolumeType == "io1" || d.VolumeType == "io2"):
		diags = append(diags, b.Errorf("volume_type", "Missing required option", `A %s volume needs "iops".`, d.VolumeType))
	}
	if b.Known("throughput") {
		if d.VolumeType != "gp3" {
			diags = append(diags, b.Errorf("throughput", "Option not valid for volume type", `"throughput" applies to gp3 volumes only, not %q.`, d.VolumeType))
		} else if *d.Throughput < throughputs[0] || *d.Throughput > throughputs[1] {
			diags = append(diags, b.Errorf("throughput", "Invalid value", "A gp3 volume's throughput is from %d to %d MiB/s, not %d.", throughputs[0], throughputs[1], *d.Throughput))
		}
	}
	if b.Known("kms_key_id") {
		if !b.IsUnknown("encrypted") && (d.Encrypted == nil || !*d.Encrypted) {
			diags = append(diags, b.Error("kms_key_id", "Option needs encrypted", `"kms_key_id" needs encrypted = true.`))
		}
		diags = kmsKey(b, diags, "kms_key_id", d.KMSKeyID)
	}
	return diags
}

// SpotAllocationStrategies are the fleet allocation strategies.
var SpotAllocationStrategies = []string{"lowest-price", "diversified", "capacity-optimized", "price-capacity-optimized"}

var spotPriceRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// prepareSpot checks the spot options.
func (c *Config) prepareSpot(b *templates.Body, diags hcl.Diagnostics) hcl.Diagnostics {
	if b.Known("spot_price") && c.SpotPrice != "auto" {
		if p, err := strconv.ParseFloat(c.SpotPrice, 64); !spotPriceRE.MatchString(c.SpotPrice) || err != nil || p <= 0 {
			diags = append(diags, b.Errorf("spot_price", "Invalid value",
				`"spot_price" is "auto" or a price in US dollars per hour like "0.0104", not %q.`, c.SpotPrice))
		}
	}
	if !b.Has("spot_price") {
		for _, n := range []string{"spot_instance_types", "spot_allocation_strategy"} {
			if b.Has(n) {
				diags = append(diags, b.Errorf(n, "Option needs spot_price", "%q applies to spot instances, so it needs \"spot_price\".", n))
			}
		}
		if b.Has("spot_tags") {
			diags = append(diags, b.Warning("spot_tags", "Option ignored", `"spot_tags" tag a spot request, which is made only with "spot_price".`))
		}
	}
	if b.Known("spot_instance_types") {
		if len(c.SpotInstanceTypes) == 0 {
			diags = append(diags, b.Error("spot_instance_types", "Invalid value", `"spot_instance_types" is empty: list at least one instance type.`))
		}
		seen := map[string]bool{}
		for i, t := range c.SpotInstanceTypes {
			switch {
			case t == "":
				diags = append(diags, b.ElementErrorf("spot_instance_types", i, "Invalid value", "An instance type may not be empty."))
			case seen[t]:
				diags = append(diags, b.ElementErrorf("spot_instance_types", i, "Duplicate instance type", "%q is listed twice.", t))
			}
			seen[t] = true
		}
	}
	if b.Known("spot_allocation_strategy") {
		diags = b.OneOf(diags, "spot_allocation_strategy", c.SpotAllocationStrategy, SpotAllocationStrategies...)
	}
	return diags
}

// instanceTypes returns the instance types the instance may have.
func (c *Config) instanceTypes() []string {
	if len(c.SpotInstanceTypes) > 0 {
		return c.SpotInstanceTypes
	}
	return []string{c.InstanceType}
}

// burstable reports whether an instance type earns CPU credits.
func burstable(instanceType string) bool {
	family, _, _ := strings.Cut(instanceType, ".")
	return slices.Contains([]string{"t2", "t3", "t3a", "t4g"}, family)
}

func accounts(b *templates.Body, diags hcl.Diagnostics, name string, ids []string) hcl.Diagnostics {
	if !b.Known(name) {
		return diags
	}
	for i, id := range ids {
		if !accountRE.MatchString(id) {
			diags = append(diags, b.ElementErrorf(name, i, "Invalid account id", "%q is not a 12-digit AWS account id.", id))
		}
	}
	return diags
}

func groups(b *templates.Body, diags hcl.Diagnostics, name string, gs []string) hcl.Diagnostics {
	if !b.Known(name) {
		return diags
	}
	for i, g := range gs {
		if g != "all" {
			diags = append(diags, b.ElementErrorf(name, i, "Invalid group", `%q is not a launch permission group; the only one is "all".`, g))
		}
	}
	return diags
}

func kmsKey(b *templates.Body, diags hcl.Diagnostics, name, key string) hcl.Diagnostics {
	if b.Known(name) && !kmsKeyRE().MatchString(key) {
		diags = append(diags, b.Errorf(name, "Invalid KMS key", "%q is not a KMS key id, alias or ARN.", key))
	}
	return diags
}

// badAMINameChars lists the characters of name an AMI name may not hold.
func badAMINameChars(name string) string {
	var bad []string
	seen := map[rune]bool{}
	for _, r := range name {
		if !amiNameRE().MatchString("ab"+string(r)) && !seen[r] {
			seen[r] = true
			bad = append(bad, "'"+string(r)+"'")
		}
	}
	return strings.Join(bad, ", ")
}

func ptrRange(r hcl.Range) *hcl.Range { return &r }
