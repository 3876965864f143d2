// Package e2e holds tests that run one real stream through every output of the server at
// once, with real players, and check what a viewer would see.
package e2e
