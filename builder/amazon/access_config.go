package amazon

import (
	"context"
	"encoding/json"
	"regexp"
	"sync"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/templates"
)

// AccessConfig is how bake reaches EC2: credentials and region beyond the
// standard AWS chain, endpoint and polling. amazon-ebs and amazon-ami
// share it.
type AccessConfig struct {
	AccessKey             string `hcl:"access_key"`
	SecretKey             string `hcl:"secret_key"`
	Token                 string `hcl:"token"`
	Profile               string `hcl:"profile"`
	SharedCredentialsFile string `hcl:"shared_credentials_file"`
	// Region is where to build. When it is not set, amazon-ebs takes it
	// from the AWS chain (AWS_REGION, AWS_DEFAULT_REGION, the profile's
	// region in the shared config) when it prepares; the data source when
	// it runs.
	Region                   string `hcl:"region"`
	CustomEndpointEC2        string `hcl:"custom_endpoint_ec2"`
	SkipRegionValidation     bool   `hcl:"skip_region_validation"`
	SkipCredentialValidation bool   `hcl:"skip_credential_validation"`
	SkipMetadataAPICheck     bool   `hcl:"skip_metadata_api_check"`
	InsecureSkipTLSVerify    bool   `hcl:"insecure_skip_tls_verify"`
	// MaxRetries bounds the retries of a throttled or failed call; 0 means
	// bake's default, DefaultMaxAttempts attempts in all.
	MaxRetries int `hcl:"max_retries"`
	// Polling sets the waiters' pace and patience.
	Polling *Polling `hcl:"aws_polling,block"`
	// AssumeRole, when set, makes every call with the credentials of a
	// role assumed through STS with the credentials above.
	AssumeRole *AssumeRole `hcl:"assume_role,block"`
}

// AssumeRole is the assume_role block: STS AssumeRole's parameters.
type AssumeRole struct {
	RoleARN     string `hcl:"role_arn"`
	SessionName string `hcl:"session_name"`
	ExternalID  string `hcl:"external_id"`
	// DurationSeconds is the session's length, 900 to 43200; 0 means
	// STS's default (an hour).
	DurationSeconds int               `hcl:"duration_seconds"`
	Tags            map[string]string `hcl:"tags"`
	// Policy is an inline session policy (JSON) and PolicyARNs managed
	// session policies: the session may do only what both the role and
	// these allow.
	Policy     string   `hcl:"policy"`
	PolicyARNs []string `hcl:"policy_arns"`
	// TransitiveTagKeys are keys of Tags that pass on to role sessions
	// assumed from this one.
	TransitiveTagKeys []string `hcl:"transitive_tag_keys"`
}

// The larger expressions compile on first use: a counted repetition
// compiles to that many copies ({1,512}: about 350 KB each), and every bake
// process (bake serve's too) would build and keep them at start.
var (
	roleARNRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
	})
	sessionNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=,.@-]{2,64}$`) })
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	policyARNRE   = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[\w+=,.@/-]{1,512}$`)
	})
)

// STS's limits on session policies (AssumeRole's API reference).
const (
	maxSessionPolicyChars = 2048 // the inline policy, in plain text
	maxSessionPolicyARNs  = 10
)

// prepare checks the assume_role block.
func (a *AssumeRole) prepare(b *templates.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = b.Required(diags, "role_arn")
	if b.Known("role_arn") && !roleARNRE().MatchString(a.RoleARN) {
		diags = append(diags, b.Errorf("role_arn", "Invalid role ARN", `%q is not a role ARN like "arn:aws:iam::123456789012:role/builder".`, a.RoleARN))
	}
	if b.Known("session_name") && !sessionNameRE().MatchString(a.SessionName) {
		diags = append(diags, b.Errorf("session_name", "Invalid value",
			`"session_name" is 2 to 64 letters, digits and + = , . @ _ -, not %q.`, a.SessionName))
	}
	if b.Known("external_id") && (len(a.ExternalID) < 2 || len(a.ExternalID) > 1224 || !externalIDRE.MatchString(a.ExternalID)) {
		diags = append(diags, b.Error("external_id", "Invalid value",
			`"external_id" is 2 to 1224 letters, digits and + = , . @ : / _ -.`))
	}
	if b.Known("duration_seconds") && (a.DurationSeconds < 900 || a.DurationSeconds > 43200) {
		diags = append(diags, b.Errorf("duration_seconds", "Invalid value",
			`"duration_seconds" is from 900 (15 minutes) to 43200 (12 hours), not %d.`, a.DurationSeconds))
	}
	if b.Known("tags") && len(a.Tags) > 50 {
		diags = append(diags, b.Errorf("tags", "Invalid value", "A role session takes at most 50 tags, not %d.", len(a.Tags)))
	}
	if b.Known("policy") {
		switch {
		case !json.Valid([]byte(a.Policy)):
			diags = append(diags, b.Error("policy", "Invalid session policy", `"policy" must be an IAM policy document in JSON; this is not valid JSON.`))
		case len(a.Policy) > maxSessionPolicyChars:
			diags = append(diags, b.Errorf("policy", "Invalid session policy",
				`STS takes an inline session policy of at most %d characters; this one has %d (use "policy_arns" for larger policies).`, maxSessionPolicyChars, len(a.Policy)))
		}
	}
	if b.Known("policy_arns") {
		if len(a.PolicyARNs) > maxSessionPolicyARNs {
			diags = append(diags, b.Errorf("policy_arns", "Invalid value", "STS takes at most %d session policy ARNs, not %d.", maxSessionPolicyARNs, len(a.PolicyARNs)))
		}
		for i, arn := range a.PolicyARNs {
			if !policyARNRE().MatchString(arn) {
				diags = append(diags, b.ElementErrorf("policy_arns", i, "Invalid policy ARN",
					`%q is not a managed policy ARN like "arn:aws:iam::aws:policy/ReadOnlyAccess".`, arn))
			}
		}
	}
	if b.Known("transitive_tag_keys") && !b.IsUnknown("tags") {
		for i, k := range a.TransitiveTagKeys {
			if _, ok := a.Tags[k]; !ok {
				diags = append(diags, b.ElementErrorf("transitive_tag_keys", i, "Invalid transitive tag key",
					`%q is not a key of "tags": only session tags can be transitive.`, k))
			}
		}
	}
	return diags
}

// Polling is the aws_polling block: how often and how many times a
// waiter polls.
type Polling struct {
	DelaySeconds int `hcl:"delay_seconds"`
	MaxAttempts  int `hcl:"max_attempts"`
}

// regionRE matches the shape of AWS region names (us-east-1,
// us-gov-west-1, cn-north-1, ap-southeast-4, eu-isoe-west-1).
var regionRE = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$`)

// prepare validates the access options.
func (c *AccessConfig) prepare(b *templates.Body, regionRequired bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if regionRequired && !b.Has("region") && !b.IsUnknown("region") {
		if c.Region = chainRegion(c.Profile); c.Region == "" {
			diags = append(diags, b.Error("region", "Missing required option",
				`The block needs the option "region", and the AWS environment names none either (AWS_REGION, AWS_DEFAULT_REGION, or a region in the shared config's profile).`))
		}
	}
	diags = c.checkRegion(b, diags, "region", c.Region)
	if b.Has("access_key") != b.Has("secret_key") {
		set, missing := "access_key", "secret_key"
		if !b.Has("access_key") {
			set, missing = missing, set
		}
		diags = append(diags, b.Errorf(set, "Missing required option",
			`"access_key" and "secret_key" go together; %q is missing.`, missing))
	}
	if b.Has("token") && !b.Has("access_key") {
		diags = append(diags, b.Warning("token", "Option ignored", `"token" is a session token for "access_key"/"secret_key", which are not set.`))
	}
	if b.Known("shared_credentials_file") {
		if err := templates.CheckReadable(c.SharedCredentialsFile, false); err != nil {
			diags = append(diags, b.Errorf("shared_credentials_file", "Unreadable credentials file", "%s.", err))
		}
	}
	if b.Known("max_retries") && c.MaxRetries < 0 {
		diags = append(diags, b.Errorf("max_retries", "Invalid value", `"max_retries" must be zero or more, not %d.`, c.MaxRetries))
	}
	if a := c.AssumeRole; a != nil {
		diags = append(diags, a.prepare(b.Blocks["assume_role"][0])...)
	}
	if p := c.Polling; p != nil {
		pb := b.Blocks["aws_polling"][0]
		for _, f := range []struct {
			name string
			v    int
		}{{"delay_seconds", p.DelaySeconds}, {"max_attempts", p.MaxAttempts}} {
			if pb.Known(f.name) && f.v < 1 {
				diags = append(diags, pb.Errorf(f.name, "Invalid value", "%q must be at least 1, not %d.", f.name, f.v))
			}
		}
	}
	return diags
}

// chainRegion returns the region the AWS SDK's default chain gives for
// profile ("" for the default): AWS_REGION, AWS_DEFAULT_REGION, then the
// shared config file. It reads no network and returns "" when the chain
// names no region or its config cannot be read.
func chainRegion(profile string) string {
	var opts []func(*awsconfig.LoadOptions) error
	if profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return ""
	}
	return cfg.Region
}

// checkRegion checks the shape of a region name, unless
// skip_region_validation is set.
func (c *AccessConfig) checkRegion(b *templates.Body, diags hcl.Diagnostics, name, region string) hcl.Diagnostics {
	if c.SkipRegionValidation || !b.Known(name) || regionRE.MatchString(region) {
		return diags
	}
	return append(diags, b.Errorf(name, "Invalid region",
		"%q is not an AWS region name like \"us-east-1\". For a custom endpoint's own region names, set skip_region_validation = true.", region))
}
