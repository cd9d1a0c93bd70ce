// Package amazon is the amazon-ebs source and the amazon-ami data source:
// their typed, validated configs and, on aws-sdk-go-v2, the builder that
// launches an EC2 instance, provisions it and snapshots it into an AMI.
//
// A build runs these steps (builder.RunSteps), each cleanup undoing its
// step in reverse order on success, failure and cancel:
//
//	check region and AMI name      DescribeRegions, DescribeImages per region
//	find source AMI                DescribeImages (source_ami or source_ami_filter)
//	find network                   DescribeVpcs/DescribeSubnets/DescribeSecurityGroups
//	create temporary key pair      CreateKeyPair            cleanup: DeleteKeyPair
//	create temporary security group CreateSecurityGroup, AuthorizeSecurityGroupIngress
//	                                                        cleanup: DeleteSecurityGroup, retried while in use
//	launch instance                RunInstances, wait running
//	                                                        cleanup: TerminateInstances, wait terminated
//	provision                      SSH (communicator/ssh), the engine's hook
//	stop instance                  StopInstances, wait stopped
//	create AMI                     CreateImage, wait available (encrypt_boot: encrypted copy)
//	                                                        cleanup after failure: deregister every AMI
//	                                                        made, delete its snapshots
//	copy AMI to regions            CopyImage per ami_regions entry, in parallel
//	share AMI                      ModifyImageAttribute, ModifySnapshotAttribute
//
// Everything created carries the tags bake:run-id and bake:build, which
// the cleanups also use to find what a call cut short never reported.
// A resource is the build's to delete once the call that created it
// returned its id; after a failed create call, only one of the tried name
// that carries both tags (a name may be someone else's: a
// temporary_key_pair_name that exists, an AMI name taken since the check).
// Snapshots go with the build's AMIs only when they carry its tags, so a
// snapshot of the user's that an AMI refers to stays.
//
// Every client of a process shares one request budget per access key,
// endpoint and region (RequestBudget requests per second, bursts of
// RequestBurst), and retries throttling and transient errors with the
// SDK's backoff up to DefaultMaxAttempts times. Waits poll at most
// aws_polling.max_attempts times; one that gives up names the resource and
// the state it was last seen in.
//
// ExecuteAMIData is the amazon-ami data source's Execute.
package amazon
