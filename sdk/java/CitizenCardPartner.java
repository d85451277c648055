// The Dongguan Citizen Card partner API from Java 11+ with the JDK alone (issue 20, M-11):
// request signing as docs/partner-api.md "Signing every request" says, and a sandbox round trip.
//
//   java sdk/java/CitizenCardPartner.java test                  the worked example of docs/partner-api.md
//   java sdk/java/CitizenCardPartner.java sandbox BASE_URL      a sandbox partner, an e-card code, a signed
//                                                               verification (prints the answer's JSON)
//
// Copy the class into your project; it has no dependencies.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public final class CitizenCardPartner {
    public static final String VERIFY_PATH = "/api/partner/v1/verifications";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final String baseUrl;
    private final String partnerId;
    private final String secret;
    private final HttpClient http = HttpClient.newHttpClient();

    public CitizenCardPartner(String baseUrl, String partnerId, String secret) {
        this.baseUrl = baseUrl;
        this.partnerId = partnerId;
        this.secret = secret;
    }

    /** base64(HMAC-SHA256(secret, METHOD \n PATH \n TIMESTAMP \n NONCE \n BODY \n)); body: the exact bytes sent. */
    public static String sign(String secret, String method, String path, String timestamp, String nonce, byte[] body) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            mac.update((method + "\n" + path + "\n" + timestamp + "\n" + nonce + "\n").getBytes(StandardCharsets.UTF_8));
            mac.update(body);
            mac.update((byte) '\n');
            return Base64.getEncoder().encodeToString(mac.doFinal());
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    /** The Authorization header's value for one request. */
    public static String authorization(String partnerId, String secret, String method, String path, byte[] body,
                                       String timestamp, String nonce) {
        return "CC-HMAC-SHA256 partner_id=\"" + partnerId + "\",timestamp=\"" + timestamp + "\",nonce=\"" + nonce
                + "\",signature=\"" + sign(secret, method, path, timestamp, nonce, body) + "\"";
    }

    /** A fresh nonce: 16 random bytes in hex (32 characters of the allowed alphabet). */
    public static String newNonce() {
        byte[] bytes = new byte[16];
        RANDOM.nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    /** POST /api/partner/v1/verifications signed with a fresh nonce and this machine's clock; the answer's JSON text. */
    public String verify(String code, String scene, String terminalId) throws Exception {
        String body = "{\"code\":" + jsonString(code) + ",\"scene\":" + jsonString(scene) + ",\"terminal_id\":"
                + jsonString(terminalId) + "}";
        return post(VERIFY_PATH, body, true);
    }

    String post(String path, String body, boolean signed) throws Exception {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(baseUrl + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(bytes));
        if (signed) {
            String timestamp = Long.toString(System.currentTimeMillis() / 1000);
            request.header("Authorization", authorization(partnerId, secret, "POST", path, bytes, timestamp, newNonce()));
        }
        HttpResponse<String> answer = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        if (answer.statusCode() >= 300) {
            throw new IllegalStateException(path + " answered " + answer.statusCode() + ": " + answer.body());
        }
        return answer.body();
    }

    static String jsonString(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }

    static String field(String json, String name) {  // a flat answer's string field (the sample needs no JSON library)
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*\"([^\"]*)\"").matcher(json);
        if (!m.find()) throw new IllegalStateException("no " + name + " in " + json);
        return m.group(1);
    }

    static void workedExample() {
        byte[] body = ("{\"code\":\"DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790\",\"scene\":\"transit\","
                + "\"terminal_id\":\"gate-A01\"}").getBytes(StandardCharsets.UTF_8);
        String got = sign("example-secret-do-not-use", "POST", VERIFY_PATH, "1779370355", "5f2b8c0e9d1a4b7c", body);
        String want = "FkWKWXXC5gPhn4TTSAkYSujr4Yi6nsUUd3Mf8VmOLHg=";
        if (!got.equals(want)) throw new AssertionError("signature " + got + ", expected " + want);
        String header = authorization("p_0123456789abcdef", "example-secret-do-not-use", "POST", VERIFY_PATH, body,
                "1779370355", "5f2b8c0e9d1a4b7c");
        if (!header.equals("CC-HMAC-SHA256 partner_id=\"p_0123456789abcdef\",timestamp=\"1779370355\","
                + "nonce=\"5f2b8c0e9d1a4b7c\",signature=\"" + want + "\"")) throw new AssertionError(header);
        System.out.println("worked example: ok");
    }

    static void sandbox(String base) throws Exception {
        CitizenCardPartner anonymous = new CitizenCardPartner(base, "", "");
        String partner = anonymous.post("/api/sandbox/v1/partners", "{\"scenes\": [\"transit\"]}", false);
        String code = field(anonymous.post("/api/sandbox/v1/e-card-codes", "{\"resident\": 1}", false), "code");
        CitizenCardPartner client = new CitizenCardPartner(base, field(partner, "partner_id"), field(partner, "secret"));
        System.out.println(client.verify(code, "transit", "sandbox-gate-1"));
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("test")) workedExample();
        else if (args.length == 2 && args[0].equals("sandbox")) sandbox(args[1]);
        else {
            System.err.println("usage: CitizenCardPartner test | sandbox BASE_URL");
            System.exit(2);
        }
    }
}
