// Package ec2test is an EC2 API server for tests: an HTTP server on
// loopback that speaks the EC2 Query protocol (form-encoded
// Action=...&Version=2016-11-15, XML answers, AWS-shaped errors) to the
// real aws-sdk-go-v2 client pointed at it by endpoint.
//
// It keeps an inventory per region (instances, key pairs, security groups,
// VPCs, subnets, images, snapshots), moves resources through their states
// on the wall clock (instances pending → running → stopping → stopped →
// shutting-down → terminated, images and snapshots pending → available)
// with configurable and usually short delays, injects faults (fail an
// action once or N times with a given code, hold a transition forever)
// and records every call so that a test can count calls per second.
//
// The region of a request is taken from the SigV4 credential scope of its
// Authorization header, so one server serves every region, as AWS does
// behind one custom endpoint. Instances get 127.0.0.1 (or the configured
// address) as public and private IP: a test runs a real sshd there and
// hands its port to the builder with ssh_port, and Options.OnLaunch
// installs the launched instance's key pair in that sshd the way
// cloud-init would.
package ec2test
