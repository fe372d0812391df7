// Package kimi provides the clients for the two remote services behind meetpipe's speech and language
// steps: Chat, for Moonshot's OpenAI-compatible chat completions API (Kimi models), and Transcriber, for any
// server speaking the OpenAI transcription protocol (POST /v1/audio/transcriptions) — Moonshot sells no
// speech-to-text API, so "Kimi ASR" is Kimi-Audio served by vLLM, and Whisper servers work the same way.
// It also holds the transcript and classification shapes the steps write, the rules that merge chunk
// transcripts into one, and Classifier: the prompts (prompts/*.tmpl), the answer ladder, the token budget
// and map-reduce of kimi_classify. It imports nothing of the engine: the steps adapt it through Guard.
package kimi
