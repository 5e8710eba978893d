"""GB/T 28181: the hub as an upper platform that devices register with and send PS-over-RTP video to."""
