"""Live video and calls over WebRTC: WHEP viewers, one-to-one calls, briefings (aiortc)."""
