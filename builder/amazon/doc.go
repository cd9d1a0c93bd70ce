// Package amazon is the amazon-ebs source and the amazon-ami data source:
// their typed, validated configs and, on aws-sdk-go-v2, the builder that
// launches an EC2 instance, provisions it and snapshots it into an AMI.
package amazon
