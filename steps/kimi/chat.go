package kimi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// DefaultChatBaseURL is Moonshot's China platform. The global platform is https://api.moonshot.ai/v1;
// keys of one do not work on the other.
const DefaultChatBaseURL = "https://api.moonshot.cn/v1"

// Chat is a client of Moonshot's chat completions API.
type Chat struct {
	BaseURL string // e.g. https://api.moonshot.cn/v1
	APIKey  string
	HTTP    *http.Client // nil: http.DefaultClient; deadlines come from the context
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ResponseFormat selects JSON mode ("json_object") or free text ("text").
type ResponseFormat struct {
	Type string `json:"type"`
}

// Thinking switches the reasoning of kimi-k2.5/k2.6 ("enabled", the default there, or "disabled").
type Thinking struct {
	Type string `json:"type"`
}

// ChatRequest is the body of POST /chat/completions. Pointer fields are omitted when nil, because some
// model families reject any value of them (see NewChatRequest).
type ChatRequest struct {
	Model          string          `json:"model"`
	Messages       []Message       `json:"messages"`
	ResponseFormat *ResponseFormat `json:"response_format,omitempty"`
	Temperature    *float64        `json:"temperature,omitempty"`
	TopP           *float64        `json:"top_p,omitempty"`
	N              *int            `json:"n,omitempty"`
	MaxTokens      int             `json:"max_tokens,omitempty"`
	Thinking       *Thinking       `json:"thinking,omitempty"`
}

// Usage counts the tokens of one completion.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Choice is one completion. Moonshot puts usage inside the choice in streams; it is kept when present.
type Choice struct {
	Index   int `json:"index"`
	Message struct {
		Role             string `json:"role"`
		Content          string `json:"content"`
		ReasoningContent string `json:"reasoning_content,omitempty"`
	} `json:"message"`
	FinishReason string `json:"finish_reason"`
	Usage        *Usage `json:"usage,omitempty"`
}

// ChatResponse is the body of a successful completion.
type ChatResponse struct {
	ID      string   `json:"id"`
	Model   string   `json:"model"`
	Choices []Choice `json:"choices"`
	Usage   *Usage   `json:"usage,omitempty"`
}

// Content returns the first choice's text and finish reason.
func (r *ChatResponse) Content() (content, finish string) {
	if len(r.Choices) == 0 {
		return "", ""
	}
	return r.Choices[0].Message.Content, r.Choices[0].FinishReason
}

// TokenUsage returns the usage wherever the server put it (top level, or inside the first choice).
func (r *ChatResponse) TokenUsage() Usage {
	if r.Usage != nil {
		return *r.Usage
	}
	if len(r.Choices) > 0 && r.Choices[0].Usage != nil {
		return *r.Choices[0].Usage
	}
	return Usage{}
}

// Family describes what a model accepts.
type Family struct {
	// FixedSampling models (kimi-k2.5, kimi-k2.6) reject temperature, top_p and n other than their fixed
	// values, so the client leaves them out.
	FixedSampling bool
	// Thinking models reason before answering unless told not to.
	Thinking bool
	// Context is the context window in tokens (input + output).
	Context int
}

// FamilyOf returns what is known of a model id. Unknown ids get a 128k window and free sampling.
func FamilyOf(model string) Family {
	m := strings.ToLower(strings.TrimSpace(model))
	switch {
	case strings.HasPrefix(m, "kimi-k2.5"), strings.HasPrefix(m, "kimi-k2.6"):
		return Family{FixedSampling: true, Thinking: true, Context: 262144}
	case strings.HasPrefix(m, "kimi-k2-0711"), m == "kimi-latest":
		return Family{Context: 131072}
	case strings.HasPrefix(m, "kimi-k2"):
		return Family{Context: 262144}
	case strings.Contains(m, "-8k"):
		return Family{Context: 8192}
	case strings.Contains(m, "-32k"):
		return Family{Context: 32768}
	}
	return Family{Context: 131072}
}

// ChatOptions are the knobs of one request that depend on the model family.
type ChatOptions struct {
	JSON        bool    // response_format json_object
	Temperature float64 // sent only where the family accepts it
	MaxTokens   int
}

// NewChatRequest builds a request with the parameters the model's family accepts: kimi-k2.5/k2.6 get no
// temperature, top_p or n and have thinking disabled (a classification needs no reasoning and
// reasoning_content would only cost tokens); other models get the temperature and no n.
func NewChatRequest(model string, msgs []Message, o ChatOptions) ChatRequest {
	req := ChatRequest{Model: model, Messages: msgs, MaxTokens: o.MaxTokens}
	if o.JSON {
		req.ResponseFormat = &ResponseFormat{Type: "json_object"}
	}
	f := FamilyOf(model)
	if !f.FixedSampling {
		t := o.Temperature
		req.Temperature = &t
	}
	if f.Thinking {
		req.Thinking = &Thinking{Type: "disabled"}
	}
	return req
}

// Complete sends one chat completion.
func (c *Chat) Complete(ctx context.Context, req ChatRequest) (*ChatResponse, error) {
	const op = "chat completion"
	b, err := c.post(ctx, "chat/completions", op, req)
	if err != nil {
		return nil, err
	}
	var out ChatResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", op, err)
	}
	if len(out.Choices) == 0 {
		return nil, fmt.Errorf("%s: response has no choices", op)
	}
	return &out, nil
}

// EstimateTokens asks the server how many tokens the messages take as a prompt of model.
func (c *Chat) EstimateTokens(ctx context.Context, model string, msgs []Message) (int, error) {
	const op = "estimate token count"
	b, err := c.post(ctx, "tokenizers/estimate-token-count", op, struct {
		Model    string    `json:"model"`
		Messages []Message `json:"messages"`
	}{model, msgs})
	if err != nil {
		return 0, err
	}
	var out struct {
		Data struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, fmt.Errorf("%s: decode response: %w", op, err)
	}
	return out.Data.TotalTokens, nil
}

// Models lists the model ids the key may use.
func (c *Chat) Models(ctx context.Context) ([]string, error) {
	const op = "list models"
	b, err := c.get(ctx, "models", op)
	if err != nil {
		return nil, err
	}
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", op, err)
	}
	ids := make([]string, 0, len(out.Data))
	for _, m := range out.Data {
		ids = append(ids, m.ID)
	}
	return ids, nil
}

// Balance is the account balance (CNY on the China platform, USD on the global one).
type Balance struct {
	Available float64 `json:"available_balance"`
	Voucher   float64 `json:"voucher_balance"`
	Cash      float64 `json:"cash_balance"`
}

// Balance reads the account balance.
func (c *Chat) Balance(ctx context.Context) (Balance, error) {
	const op = "read balance"
	b, err := c.get(ctx, "users/me/balance", op)
	if err != nil {
		return Balance{}, err
	}
	var out struct {
		Data Balance `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return Balance{}, fmt.Errorf("%s: decode response: %w", op, err)
	}
	return out.Data, nil
}

const maxChatBody = 16 << 20

func (c *Chat) post(ctx context.Context, path, op string, body any) ([]byte, error) {
	u, err := endpoint(c.baseURL(), path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	js, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", op, err)
	}
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	c.auth(req)
	b, _, err := do(ctx, c.HTTP, req, op, maxChatBody)
	return b, err
}

func (c *Chat) get(ctx context.Context, path, op string) ([]byte, error) {
	u, err := endpoint(c.baseURL(), path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	c.auth(req)
	b, _, err := do(ctx, c.HTTP, req, op, maxChatBody)
	return b, err
}

func (c *Chat) baseURL() string {
	if strings.TrimSpace(c.BaseURL) == "" {
		return DefaultChatBaseURL
	}
	return c.BaseURL
}

func (c *Chat) auth(req *http.Request) {
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
}
