package amazon

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// iamAPI is the subset of the IAM client that this package uses: the
// temporary instance profile of temporary_iam_instance_profile_policy_document.
type iamAPI interface {
	CreateRole(ctx context.Context, in *iam.CreateRoleInput, opts ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	GetRole(ctx context.Context, in *iam.GetRoleInput, opts ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	DeleteRole(ctx context.Context, in *iam.DeleteRoleInput, opts ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
	PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, opts ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, opts ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	CreateInstanceProfile(ctx context.Context, in *iam.CreateInstanceProfileInput, opts ...func(*iam.Options)) (*iam.CreateInstanceProfileOutput, error)
	GetInstanceProfile(ctx context.Context, in *iam.GetInstanceProfileInput, opts ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
	DeleteInstanceProfile(ctx context.Context, in *iam.DeleteInstanceProfileInput, opts ...func(*iam.Options)) (*iam.DeleteInstanceProfileOutput, error)
	AddRoleToInstanceProfile(ctx context.Context, in *iam.AddRoleToInstanceProfileInput, opts ...func(*iam.Options)) (*iam.AddRoleToInstanceProfileOutput, error)
	RemoveRoleFromInstanceProfile(ctx context.Context, in *iam.RemoveRoleFromInstanceProfileInput, opts ...func(*iam.Options)) (*iam.RemoveRoleFromInstanceProfileOutput, error)
}

var _ iamAPI = (*iam.Client)(nil)

// newIAM returns an IAM client with the build's credentials. IAM is
// global; its endpoint is the SDK's, or AWS_ENDPOINT_URL_IAM.
func newIAM(ctx context.Context, ac *AccessConfig, region string, t tuning) (iamAPI, error) {
	cfg, err := loadAWSConfig(ctx, ac, region, t)
	if err != nil {
		return nil, err
	}
	return iam.NewFromConfig(cfg), nil
}

// ec2Trust lets EC2 instances take the temporary role.
const ec2Trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

func (b *Builder) iamTags() []iamtypes.Tag {
	var out []iamtypes.Tag
	for _, t := range b.tags(nil) {
		out = append(out, iamtypes.Tag{Key: t.Key, Value: t.Value})
	}
	return out
}

func iamGone(err error) bool { return errorCode(err) == "NoSuchEntity" }

func ownedByIAMTags(tags []iamtypes.Tag, runID, build string) bool {
	var r, bl bool
	for _, t := range tags {
		switch aws.ToString(t.Key) {
		case TagRunID:
			r = aws.ToString(t.Value) == runID
		case TagBuild:
			bl = aws.ToString(t.Value) == build
		}
	}
	return r && bl
}

// createProfile creates the temporary role with its inline policy and
// the instance profile that holds it. Each of them is the build's to
// delete once the call that made it returned.
func (b *Builder) createProfile(ctx context.Context, s *state) error {
	c, err := b.iamClient(ctx)
	if err != nil {
		return err
	}
	name := b.tempName()
	s.roleTried = name
	cctx, cancel := creating(ctx)
	_, err = c.CreateRole(cctx, &iam.CreateRoleInput{
		RoleName:                 aws.String(name),
		AssumeRolePolicyDocument: aws.String(ec2Trust),
		Description:              aws.String("Temporary role for bake build " + b.name),
		Tags:                     b.iamTags(),
	})
	cancel()
	if errorCode(err) == "EntityAlreadyExists" {
		return fmt.Errorf("create temporary role: name %q is taken; bake deletes only the roles it creates: %w", name, err)
	}
	if err != nil {
		return fmt.Errorf("create temporary role %s: %w", name, err)
	}
	s.role, s.roleTried = name, ""

	// The role is ours: so is any policy of it, whatever the answer.
	s.rolePolicy = name
	_, err = c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName:       aws.String(name),
		PolicyName:     aws.String(name),
		PolicyDocument: aws.String(b.cfg.TemporaryIAMInstanceProfilePolicyDocument.JSON()),
	})
	if err != nil {
		return fmt.Errorf("put the policy of temporary role %s: %w", name, err)
	}

	s.profileTried = name
	cctx, cancel = creating(ctx)
	_, err = c.CreateInstanceProfile(cctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(name), Tags: b.iamTags()})
	cancel()
	if errorCode(err) == "EntityAlreadyExists" {
		return fmt.Errorf("create temporary instance profile: name %q is taken; bake deletes only the instance profiles it creates: %w", name, err)
	}
	if err != nil {
		return fmt.Errorf("create temporary instance profile %s: %w", name, err)
	}
	s.profile, s.profileTried = name, ""

	s.roleInProfile = true // both are ours: removing the role is safe
	if _, err := c.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String(name), RoleName: aws.String(name)}); err != nil {
		return fmt.Errorf("add temporary role %s to instance profile %s: %w", name, name, err)
	}
	// IAM is eventually consistent: wait until the profile is visible
	// with its role before EC2 is asked to use it.
	err = s.inst.wait(ctx, "instance profile "+name, func(ctx context.Context) (string, bool, error) {
		out, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
		switch {
		case iamGone(err):
			return "not yet visible", false, nil
		case err != nil:
			return "", false, err
		case out.InstanceProfile == nil || len(out.InstanceProfile.Roles) == 0:
			return "without its role", false, nil
		}
		return "ready", true, nil
	})
	if err != nil {
		return err
	}
	s.ui.Say(fmt.Sprintf("created temporary instance profile %s with role %s", name, name))
	return nil
}

// iamClient returns the IAM client, made once.
func (b *Builder) iamClient(ctx context.Context) (iamAPI, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.iam != nil {
		return b.iam, nil
	}
	c, err := b.newIAM(ctx)
	if err != nil {
		return nil, err
	}
	b.iam = c
	return c, nil
}

// deleteProfile removes the role from the profile, then deletes the
// profile, the role's policy and the role: whichever of them the build
// made.
func (b *Builder) deleteProfile(ctx context.Context, s *state) error {
	if s.role == "" && s.roleTried == "" && s.profile == "" && s.profileTried == "" {
		return nil
	}
	c, err := b.iamClient(ctx)
	if err != nil {
		return err
	}
	// After a create call that failed, what carries the build's tags under
	// the tried name is ours.
	if s.roleTried != "" {
		out, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(s.roleTried)})
		switch {
		case iamGone(err):
		case err != nil:
			return fmt.Errorf("look for role %s: %w", s.roleTried, err)
		case out.Role != nil && ownedByIAMTags(out.Role.Tags, b.opts.RunID, b.name):
			s.role = s.roleTried
		}
		s.roleTried = ""
	}
	if s.profileTried != "" {
		out, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(s.profileTried)})
		switch {
		case iamGone(err):
		case err != nil:
			return fmt.Errorf("look for instance profile %s: %w", s.profileTried, err)
		case out.InstanceProfile != nil && ownedByIAMTags(out.InstanceProfile.Tags, b.opts.RunID, b.name):
			s.profile = s.profileTried
			s.roleInProfile = s.role != ""
		}
		s.profileTried = ""
	}
	var errs []error
	call := func(what string, fn func(ctx context.Context) error) bool {
		err := b.retryCleanup(ctx, func(ctx context.Context) error {
			if err := fn(ctx); err != nil && !iamGone(err) {
				return err
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
			return false
		}
		return true
	}
	if s.roleInProfile && s.profile != "" && s.role != "" && call("remove role "+s.role+" from instance profile "+s.profile, func(ctx context.Context) error {
		_, err := c.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: aws.String(s.profile), RoleName: aws.String(s.role)})
		return err
	}) {
		s.roleInProfile = false
	}
	if s.profile != "" && !s.roleInProfile && call("delete instance profile "+s.profile, func(ctx context.Context) error {
		_, err := c.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: aws.String(s.profile)})
		return err
	}) {
		s.profile = ""
	}
	if s.rolePolicy != "" && s.role != "" && call("delete policy of role "+s.role, func(ctx context.Context) error {
		_, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(s.role), PolicyName: aws.String(s.rolePolicy)})
		return err
	}) {
		s.rolePolicy = ""
	}
	if s.role != "" && s.rolePolicy == "" && !s.roleInProfile && call("delete role "+s.role, func(ctx context.Context) error {
		_, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(s.role)})
		return err
	}) {
		s.role = ""
	}
	return errors.Join(errs...)
}

func (b *Builder) leftProfile(s *state) string {
	var lines []string
	if s.profile != "" {
		if s.roleInProfile {
			lines = append(lines, fmt.Sprintf("role %s in instance profile %s: aws iam remove-role-from-instance-profile --instance-profile-name %s --role-name %s", s.role, s.profile, s.profile, s.role))
		}
		lines = append(lines, fmt.Sprintf("instance profile %s: aws iam delete-instance-profile --instance-profile-name %s", s.profile, s.profile))
	}
	if s.role != "" {
		if s.rolePolicy != "" {
			lines = append(lines, fmt.Sprintf("policy %s of role %s: aws iam delete-role-policy --role-name %s --policy-name %s", s.rolePolicy, s.role, s.role, s.rolePolicy))
		}
		lines = append(lines, fmt.Sprintf("role %s: aws iam delete-role --role-name %s", s.role, s.role))
	}
	return strings.Join(lines, "\n")
}
