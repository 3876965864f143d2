// Package codec parses codec configurations and access units (H.264, AAC) for ingest and
// every output, so no output imports ingest.
package codec
