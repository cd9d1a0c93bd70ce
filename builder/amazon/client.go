package amazon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"golang.org/x/time/rate"
)

// ec2API is the subset of the EC2 client that this package uses; tests
// run it against internal/ec2test through the real SDK.
type ec2API interface {
	DescribeRegions(ctx context.Context, in *ec2.DescribeRegionsInput, opts ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
	DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, opts ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeVpcs(ctx context.Context, in *ec2.DescribeVpcsInput, opts ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	CreateKeyPair(ctx context.Context, in *ec2.CreateKeyPairInput, opts ...func(*ec2.Options)) (*ec2.CreateKeyPairOutput, error)
	DeleteKeyPair(ctx context.Context, in *ec2.DeleteKeyPairInput, opts ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error)
	DescribeKeyPairs(ctx context.Context, in *ec2.DescribeKeyPairsInput, opts ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error)
	CreateSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput, opts ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error)
	AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, opts ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
	DeleteSecurityGroup(ctx context.Context, in *ec2.DeleteSecurityGroupInput, opts ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error)
	CreateLaunchTemplate(ctx context.Context, in *ec2.CreateLaunchTemplateInput, opts ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateOutput, error)
	DescribeLaunchTemplates(ctx context.Context, in *ec2.DescribeLaunchTemplatesInput, opts ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error)
	DeleteLaunchTemplate(ctx context.Context, in *ec2.DeleteLaunchTemplateInput, opts ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateOutput, error)
	CreateFleet(ctx context.Context, in *ec2.CreateFleetInput, opts ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error)
	DeleteFleets(ctx context.Context, in *ec2.DeleteFleetsInput, opts ...func(*ec2.Options)) (*ec2.DeleteFleetsOutput, error)
	RunInstances(ctx context.Context, in *ec2.RunInstancesInput, opts ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	StopInstances(ctx context.Context, in *ec2.StopInstancesInput, opts ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, opts ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	CreateImage(ctx context.Context, in *ec2.CreateImageInput, opts ...func(*ec2.Options)) (*ec2.CreateImageOutput, error)
	CopyImage(ctx context.Context, in *ec2.CopyImageInput, opts ...func(*ec2.Options)) (*ec2.CopyImageOutput, error)
	DeregisterImage(ctx context.Context, in *ec2.DeregisterImageInput, opts ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error)
	EnableImageDeprecation(ctx context.Context, in *ec2.EnableImageDeprecationInput, opts ...func(*ec2.Options)) (*ec2.EnableImageDeprecationOutput, error)
	ModifyImageAttribute(ctx context.Context, in *ec2.ModifyImageAttributeInput, opts ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error)
	DescribeSnapshots(ctx context.Context, in *ec2.DescribeSnapshotsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error)
	DeleteSnapshot(ctx context.Context, in *ec2.DeleteSnapshotInput, opts ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
	ModifySnapshotAttribute(ctx context.Context, in *ec2.ModifySnapshotAttributeInput, opts ...func(*ec2.Options)) (*ec2.ModifySnapshotAttributeOutput, error)
	CreateTags(ctx context.Context, in *ec2.CreateTagsInput, opts ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
}

var _ ec2API = (*ec2.Client)(nil)

// DefaultMaxAttempts is how many times bake sends one EC2 request when
// max_retries is not set: enough to ride out a burst of throttling
// (RequestLimitExceeded) with the SDK's exponential backoff.
const DefaultMaxAttempts = 12

// Tuning is how the clients of a build retry and pace their requests. Its
// zero value means the defaults; tests shorten the waits.
type tuning struct {
	// maxBackoff caps the SDK's backoff between two attempts (20s).
	maxBackoff time.Duration
	// pollUnit is the length of one aws_polling delay_seconds (1s).
	pollUnit time.Duration
	// rate and burst are the shared request budget per account and
	// endpoint (RequestBudget, RequestBurst).
	rate  float64
	burst int
}

// The shared request budget: bake's parallel builds against one account and
// endpoint together send at most RequestBudget requests per second, with
// bursts of RequestBurst. EC2 throttles per account and region; staying
// under the budget keeps RequestLimitExceeded rare, and the retryer absorbs
// the rest.
const (
	RequestBudget = 10.0
	RequestBurst  = 20
)

func (t tuning) withDefaults() tuning {
	if t.maxBackoff == 0 {
		t.maxBackoff = 20 * time.Second
	}
	if t.pollUnit == 0 {
		t.pollUnit = time.Second
	}
	if t.rate == 0 {
		t.rate = RequestBudget
	}
	if t.burst == 0 {
		t.burst = RequestBurst
	}
	return t
}

// budgets holds the process-wide token buckets, one per access key and
// endpoint host, shared by every build of the process.
var budgets = struct {
	sync.Mutex
	m map[string]*rate.Limiter
}{m: map[string]*rate.Limiter{}}

func budgetFor(key string, t tuning) *rate.Limiter {
	budgets.Lock()
	defer budgets.Unlock()
	l := budgets.m[key]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(t.rate), t.burst)
		budgets.m[key] = l
	}
	return l
}

var accessKeyRE = regexp.MustCompile(`Credential=([^/]+)/[0-9]+/([^/]+)/`)

// budgetedClient is an HTTP client that takes a token from the shared
// budget of the request's account and endpoint before each attempt, so
// retries count against the budget too.
type budgetedClient struct {
	next   aws.HTTPClient
	tuning tuning
}

func (c budgetedClient) Do(req *http.Request) (*http.Response, error) {
	key := req.URL.Host
	if m := accessKeyRE.FindStringSubmatch(req.Header.Get("Authorization")); m != nil {
		key = m[1] + "@" + req.URL.Host + "/" + m[2]
	}
	if err := budgetFor(key, c.tuning).Wait(req.Context()); err != nil {
		return nil, fmt.Errorf("wait for the request budget: %w", err)
	}
	return c.next.Do(req)
}

// newEC2 returns an EC2 client for region: credentials from the access
// options or the standard chain, the custom endpoint if any, the retryer
// and the shared request budget.
func newEC2(ctx context.Context, ac *AccessConfig, region string, t tuning) (*ec2.Client, error) {
	cfg, err := loadAWSConfig(ctx, ac, region, t)
	if err != nil {
		return nil, err
	}
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if ac.CustomEndpointEC2 != "" {
			o.BaseEndpoint = aws.String(ac.CustomEndpointEC2)
		}
	}), nil
}

// loadAWSConfig resolves the SDK configuration. Region may be empty for
// the chain's (AWS_REGION, the profile's region).
func loadAWSConfig(ctx context.Context, ac *AccessConfig, region string, t tuning) (aws.Config, error) {
	t = t.withDefaults()
	attempts := DefaultMaxAttempts
	if ac.MaxRetries > 0 {
		attempts = ac.MaxRetries + 1
	}
	opts := []func(*awsconfig.LoadOptions) error{
		// A buildable client, so that AWS_CA_BUNDLE still applies.
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			if ac.InsecureSkipTLSVerify {
				tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // asked for by insecure_skip_tls_verify
			}
		})),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = t.maxBackoff
				o.Backoff = retry.NewExponentialJitterBackoff(t.maxBackoff)
				// The shared budget paces requests; the SDK's own retry
				// quota would fail builds in a long throttling burst.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if ac.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(ac.Profile))
	}
	if ac.SharedCredentialsFile != "" {
		opts = append(opts, awsconfig.WithSharedCredentialsFiles([]string{ac.SharedCredentialsFile}))
	}
	if ac.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ac.AccessKey, ac.SecretKey, ac.Token)))
	}
	if ac.SkipMetadataAPICheck {
		opts = append(opts, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	cfg.HTTPClient = budgetedClient{next: cfg.HTTPClient, tuning: t}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region: set region, AWS_REGION or a profile's region")
	}
	if ac.AssumeRole != nil {
		cfg.Credentials = assumed(ac, cfg)
	}
	return cfg, nil
}

// assumedCreds holds the credentials of each assumed role session, by a
// digest of what makes the session (the caller's credentials and the
// assume_role options): every client of a build (each region's EC2, IAM),
// and of the builds of one process that assume the same role the same
// way, share one session, renewed before it expires.
var assumedCreds sync.Map // digest → *aws.CredentialsCache

// sessionKey is the digest that identifies an assumed role session.
func sessionKey(ac *AccessConfig) string {
	a := ac.AssumeRole
	h := sha256.New()
	for _, v := range []string{os.Getenv("AWS_ENDPOINT_URL_STS"), ac.AccessKey, ac.SecretKey, ac.Token, ac.Profile, ac.SharedCredentialsFile,
		a.RoleARN, a.SessionName, a.ExternalID, strconv.Itoa(a.DurationSeconds), a.Policy,
		strings.Join(a.PolicyARNs, "\x00"), strings.Join(a.TransitiveTagKeys, "\x00")} {
		fmt.Fprintf(h, "%d:%s;", len(v), v)
	}
	for _, k := range slices.Sorted(maps.Keys(a.Tags)) {
		fmt.Fprintf(h, "%d:%s=%d:%s;", len(k), k, len(a.Tags[k]), a.Tags[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// assumed returns the credentials of ac's assume_role, assumed through
// STS with cfg's credentials. STS's endpoint is the SDK's (or
// AWS_ENDPOINT_URL_STS).
func assumed(ac *AccessConfig, cfg aws.Config) aws.CredentialsProvider {
	key := sessionKey(ac)
	if c, ok := assumedCreds.Load(key); ok {
		return c.(*aws.CredentialsCache)
	}
	a := ac.AssumeRole
	provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = a.SessionName
		if o.RoleSessionName == "" {
			o.RoleSessionName = "bake"
		}
		if a.ExternalID != "" {
			o.ExternalID = aws.String(a.ExternalID)
		}
		if a.DurationSeconds > 0 {
			o.Duration = time.Duration(a.DurationSeconds) * time.Second
		}
		for _, k := range slices.Sorted(maps.Keys(a.Tags)) {
			o.Tags = append(o.Tags, ststypes.Tag{Key: aws.String(k), Value: aws.String(a.Tags[k])})
		}
		if a.Policy != "" {
			o.Policy = aws.String(a.Policy)
		}
		for _, arn := range a.PolicyARNs {
			o.PolicyARNs = append(o.PolicyARNs, ststypes.PolicyDescriptorType{Arn: aws.String(arn)})
		}
		o.TransitiveTagKeys = append([]string(nil), a.TransitiveTagKeys...)
	})
	c, _ := assumedCreds.LoadOrStore(key, aws.NewCredentialsCache(provider))
	return c.(*aws.CredentialsCache)
}

// errorCode returns the EC2 error code of err, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isNotFound reports whether err says the resource does not exist.
func isNotFound(err error) bool {
	c := errorCode(err)
	return len(c) > 9 && c[len(c)-9:] == ".NotFound"
}
