//go:build race

package e2e

// raceBuild makes the services under test build with -race when the test does.
const raceBuild = true
