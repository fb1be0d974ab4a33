using System.Globalization;
using System.Text;

namespace LayerSkip.Text;

/// <summary>
/// JSON string escaping shared by the template renderer (tojson) and the JSON constraint (canonical spellings).
/// Compiled into both assemblies (linked source) so neither depends on the other.
/// </summary>
internal static class JsonEscaping
{
    /// <summary>
    /// Appends <paramref name="s"/> escaped for a JSON string literal (without quotes). With <paramref name="asciiOnly"/>,
    /// every non-ASCII character is written as \uXXXX too, so any vocabulary can spell the result.
    /// </summary>
    public static void Append(StringBuilder sb, string s, bool asciiOnly)
    {
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (asciiOnly && c > 0x7E)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
    }
}
