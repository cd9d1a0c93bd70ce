package ec2test_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/bake-tool/bake/internal/ec2test"
)

// TestFleetRefusals: the server refuses what EC2 refuses of an instant
// fleet: a launch template that asks for spot itself, and a deletion that
// would leave the fleet's instances running.
func TestFleetRefusals(t *testing.T) {
	ctx := context.Background()
	s := ec2test.Start(t, ec2test.Options{})
	ami := s.AddImage("us-east-1", ec2test.Image{Name: "base"})
	c := client(s, "us-east-1")
	fleet := func(template string) (*ec2.CreateFleetOutput, error) {
		return c.CreateFleet(ctx, &ec2.CreateFleetInput{
			Type: types.FleetTypeInstant,
			LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{
				LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{LaunchTemplateName: aws.String(template), Version: aws.String("1")},
				Overrides:                   []types.FleetLaunchTemplateOverridesRequest{{InstanceType: types.InstanceTypeT3Micro}},
			}},
			TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{TotalTargetCapacity: aws.Int32(1), DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot},
		})
	}
	if _, err := c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("spot-in-template"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(ami),
			InstanceMarketOptions: &types.LaunchTemplateInstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := fleet("spot-in-template"); code(err) != "InvalidParameterCombination" {
		t.Errorf("fleet from a template with market options: %v", err)
	}
	if _, err := c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("plain"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(ami)}}); err != nil {
		t.Fatal(err)
	}
	out, err := fleet("plain")
	if err != nil || len(out.Instances) != 1 || len(out.Instances[0].InstanceIds) != 1 {
		t.Fatalf("fleet: %+v, %v", out, err)
	}
	if _, err := c.DeleteFleets(ctx, &ec2.DeleteFleetsInput{FleetIds: []string{aws.ToString(out.FleetId)}, TerminateInstances: aws.Bool(false)}); code(err) != "InvalidParameterCombination" {
		t.Errorf("delete instant fleet keeping its instances: %v", err)
	}
	del, err := c.DeleteFleets(ctx, &ec2.DeleteFleetsInput{FleetIds: []string{aws.ToString(out.FleetId), "fleet-nope"}, TerminateInstances: aws.Bool(true)})
	if err != nil || len(del.SuccessfulFleetDeletions) != 1 || len(del.UnsuccessfulFleetDeletions) != 1 ||
		del.UnsuccessfulFleetDeletions[0].Error.Code != types.DeleteFleetErrorCodeFleetIdDoesNotExist {
		t.Fatalf("delete fleets: %+v, %v", del, err)
	}
	in := s.Inventory().Instances[0]
	if in.State != "shutting-down" && in.State != "terminated" || !in.Spot || in.Tags["aws:ec2:fleet-id"] != aws.ToString(out.FleetId) {
		t.Errorf("the fleet's instance after the deletion: %+v", in)
	}
}

// TestIAMRefusals: a role that still has a policy or sits in an instance
// profile cannot be deleted, as in IAM, and the calls are told apart
// from EC2's by the signature's service.
func TestIAMRefusals(t *testing.T) {
	ctx := context.Background()
	s := ec2test.Start(t, ec2test.Options{})
	c := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDIAM", "secret", "")})
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String("not json")}); code(err) != "MalformedPolicyDocument" {
		t.Errorf("role with a malformed trust policy: %v", err)
	}
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trust)}); code(err) != "EntityAlreadyExists" {
		t.Errorf("second role of the name: %v", err)
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String("p"), PolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String("ip")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String("ip"), RoleName: aws.String("r")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("r")}); code(err) != "DeleteConflict" {
		t.Errorf("delete a role with a policy: %v", err)
	}
	if _, err := c.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: aws.String("ip")}); code(err) != "DeleteConflict" {
		t.Errorf("delete a profile with a role: %v", err)
	}
	if _, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nope")}); code(err) != "NoSuchEntity" || status(err) != 404 {
		t.Errorf("get a missing role: %v", err)
	}
	got, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("ip")})
	if err != nil || len(got.InstanceProfile.Roles) != 1 || aws.ToString(got.InstanceProfile.Roles[0].RoleName) != "r" {
		t.Fatalf("instance profile: %+v, %v", got, err)
	}
	for _, call := range s.Calls() {
		if call.Service != "iam" || call.AccessKey != "AKIDIAM" {
			t.Errorf("call %+v, want IAM with AKIDIAM", call)
		}
	}
}
