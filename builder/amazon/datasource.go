package amazon

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/zclconf/go-cty/cty"

	"github.com/bake-tool/bake/templates"
)

// ExecuteAMIData is the amazon-ami data source's Execute: it finds the AMI
// that cfg (a prepared *AMIDataConfig) selects, in its region or the
// AWS chain's, and returns it as a value of AMIDataType.
func ExecuteAMIData(ctx context.Context, cfg templates.Config) (cty.Value, error) {
	c, ok := cfg.(*AMIDataConfig)
	if !ok {
		return cty.NilVal, fmt.Errorf("amazon-ami data source: config is %T, not *amazon.AMIDataConfig", cfg)
	}
	return executeAMIData(ctx, c, tuning{})
}

func executeAMIData(ctx context.Context, c *AMIDataConfig, t tuning) (cty.Value, error) {
	client, err := newEC2(ctx, &c.AccessConfig, c.Region, t)
	if err != nil {
		return cty.NilVal, fmt.Errorf("amazon-ami: %w", err)
	}
	img, err := findAMI(ctx, client, &c.AMIFilter, client.Options().Region)
	if err != nil {
		return cty.NilVal, fmt.Errorf("amazon-ami: %w", err)
	}
	tags := map[string]cty.Value{}
	for _, t := range img.Tags {
		tags[aws.ToString(t.Key)] = cty.StringVal(aws.ToString(t.Value))
	}
	tagVal := cty.MapValEmpty(cty.String)
	if len(tags) > 0 {
		tagVal = cty.MapVal(tags)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"id":            cty.StringVal(aws.ToString(img.ImageId)),
		"name":          cty.StringVal(aws.ToString(img.Name)),
		"creation_date": cty.StringVal(aws.ToString(img.CreationDate)),
		"owner":         cty.StringVal(aws.ToString(img.OwnerId)),
		"owner_name":    cty.StringVal(aws.ToString(img.ImageOwnerAlias)),
		"architecture":  cty.StringVal(string(img.Architecture)),
		"description":   cty.StringVal(aws.ToString(img.Description)),
		"tags":          tagVal,
	}), nil
}
