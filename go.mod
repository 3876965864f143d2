module github.com/relaycast/relaycast

go 1.26

require github.com/bluenviron/mediacommon/v2 v2.4.1
