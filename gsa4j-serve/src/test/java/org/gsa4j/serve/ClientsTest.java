package org.gsa4j.serve;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real clients against a running server: the official OpenAI Java SDK and LangChain4j's OpenAI module, streaming and not, with an API key. */
class ClientsTest {
    @TempDir
    static Path tmp;
    static Server server;
    static final String KEY = "sk-test-0123456789";

    @BeforeAll
    static void start() throws Exception {
        server = Server.start(ServeOptions.defaults(TinyModel.write(tmp.resolve("tiny"), true)).withPort(0).withApiKey(KEY));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static String base() {
        return "http://127.0.0.1:" + server.port() + "/v1";
    }

    @Test
    void theOpenAiJavaSdk() {
        OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(base()).apiKey(KEY).build();
        Completion c = client.completions().create(CompletionCreateParams.builder().model("tiny").prompt("a single man").maxTokens(6).temperature(0.0).build());
        assertEquals(1, c.choices().size());
        assertTrue(c.usage().orElseThrow().completionTokens() >= 1);

        ChatCompletionCreateParams chat = ChatCompletionCreateParams.builder().model("tiny").addSystemMessage("be brief")
                .addUserMessage("a truth universally").maxCompletionTokens(6).temperature(0.0).build();
        ChatCompletion whole = client.chat().completions().create(chat);
        String text = whole.choices().get(0).message().content().orElse("");
        StringBuilder streamed = new StringBuilder();
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(chat)) {
            s.stream().forEach(chunk -> chunk.choices().forEach(ch -> ch.delta().content().ifPresent(streamed::append)));
        }
        assertEquals(text, streamed.toString(), "streamed and whole answers agree (greedy)");

        OpenAIClient wrongKey = OpenAIOkHttpClient.builder().baseUrl(base()).apiKey("sk-wrong").build();
        assertThrows(UnauthorizedException.class, () -> wrongKey.chat().completions().create(chat));
    }

    @Test
    void langChain4jsOpenAiModule() throws Exception {
        OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(base()).apiKey(KEY).modelName("tiny").maxTokens(6).temperature(0.0).build();
        String answer = chat.chat("a good fortune");
        OpenAiStreamingChatModel streaming = OpenAiStreamingChatModel.builder().baseUrl(base()).apiKey(KEY).modelName("tiny").maxTokens(6).temperature(0.0).build();
        StringBuilder parts = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        streaming.chat("a good fortune", new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
                parts.append(partial);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        assertEquals(answer, parts.toString());
        assertEquals(answer, r.aiMessage().text());
    }
}
