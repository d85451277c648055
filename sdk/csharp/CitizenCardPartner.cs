// The Dongguan Citizen Card partner API from C# (.NET or Mono) with the base library alone
// (issue 20, M-11): request signing as docs/partner-api.md "Signing every request" says.
//
//   mcs -out:partner.exe CitizenCardPartner.cs && mono partner.exe test     the worked example
//   (dotnet: add the file to a console project; Main is the same)
using System;
using System.Security.Cryptography;
using System.Text;

public static class CitizenCardPartner
{
    public const string VerifyPath = "/api/partner/v1/verifications";

    /// <summary>base64(HMAC-SHA256(secret, METHOD \n PATH \n TIMESTAMP \n NONCE \n BODY \n));
    /// body: the exact bytes sent (empty for none).</summary>
    public static string Sign(string secret, string method, string path, string timestamp, string nonce, byte[] body)
    {
        byte[] head = Encoding.UTF8.GetBytes(method + "\n" + path + "\n" + timestamp + "\n" + nonce + "\n");
        byte[] message = new byte[head.Length + body.Length + 1];
        Buffer.BlockCopy(head, 0, message, 0, head.Length);
        Buffer.BlockCopy(body, 0, message, head.Length, body.Length);
        message[message.Length - 1] = (byte)'\n';
        using (var mac = new HMACSHA256(Encoding.UTF8.GetBytes(secret)))
        {
            return Convert.ToBase64String(mac.ComputeHash(message));
        }
    }

    /// <summary>The Authorization header's value for one request.</summary>
    public static string Authorization(string partnerId, string secret, string method, string path, byte[] body,
                                       string timestamp, string nonce)
    {
        return "CC-HMAC-SHA256 partner_id=\"" + partnerId + "\",timestamp=\"" + timestamp + "\",nonce=\"" + nonce
            + "\",signature=\"" + Sign(secret, method, path, timestamp, nonce, body) + "\"";
    }

    /// <summary>A fresh nonce: 16 random bytes in hex, new for every request (retries included).</summary>
    public static string NewNonce()
    {
        var bytes = new byte[16];
        using (var random = RandomNumberGenerator.Create()) random.GetBytes(bytes);
        return BitConverter.ToString(bytes).Replace("-", "").ToLowerInvariant();
    }

    public static int Main(string[] args)
    {
        if (args.Length != 1 || args[0] != "test")
        {
            Console.Error.WriteLine("usage: partner.exe test");
            return 2;
        }
        byte[] body = Encoding.UTF8.GetBytes(
            "{\"code\":\"DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790\",\"scene\":\"transit\",\"terminal_id\":\"gate-A01\"}");
        const string want = "FkWKWXXC5gPhn4TTSAkYSujr4Yi6nsUUd3Mf8VmOLHg=";
        string got = Sign("example-secret-do-not-use", "POST", VerifyPath, "1779370355", "5f2b8c0e9d1a4b7c", body);
        string header = Authorization("p_0123456789abcdef", "example-secret-do-not-use", "POST", VerifyPath, body,
                                      "1779370355", "5f2b8c0e9d1a4b7c");
        bool ok = got == want && header == "CC-HMAC-SHA256 partner_id=\"p_0123456789abcdef\",timestamp=\"1779370355\","
            + "nonce=\"5f2b8c0e9d1a4b7c\",signature=\"" + want + "\"" && NewNonce().Length == 32;
        Console.WriteLine(ok ? "worked example: ok" : "worked example: FAILED, signature " + got);
        return ok ? 0 : 1;
    }
}
