using System.Globalization;

namespace SmtpServer.Configuration;

/// <summary>
/// The configuration as a tree, merged from the file and the environment overrides. Built from
/// the providers directly (not through <c>IConfiguration.GetChildren</c>) so a key keeps the
/// spelling it first had in the file, and so present-but-empty keys (<c>relay: {}</c>) survive.
/// </summary>
internal sealed class ConfigNode
{
    private readonly Dictionary<string, ConfigNode> _children = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<ConfigNode> _ordered = [];

    public ConfigNode(string key, ConfigNode? parent)
    {
        Key = key;
        Parent = parent;
    }

    /// <summary>The key; the validator replaces it with the canonical spelling of a known key.</summary>
    public string Key { get; set; }

    public ConfigNode? Parent { get; }

    /// <summary>The scalar value; null or empty for sections and for empty values.</summary>
    public string? Value { get; set; }

    public IReadOnlyList<ConfigNode> Children => _ordered;

    public bool HasChildren => _ordered.Count > 0;

    /// <summary>A scalar with no text (<c>key:</c>, <c>key: {}</c>, <c>key: []</c>, JSON null).</summary>
    public bool IsEmpty => !HasChildren && string.IsNullOrEmpty(Value);

    /// <summary>A sequence: every child key is an index.</summary>
    public bool IsList => HasChildren && _ordered.TrueForAll(c => IsIndex(c.Key));

    /// <summary>The user-facing path: <c>listeners[0].tls.mode</c>.</summary>
    public string Path
    {
        get
        {
            if (Parent is null)
            {
                return string.Empty;
            }

            var parent = Parent.Path;
            if (IsIndex(Key))
            {
                return $"{parent}[{Key}]";
            }

            return parent.Length == 0 ? Key : $"{parent}.{Key}";
        }
    }

    public ConfigNode? this[string key] => _children.GetValueOrDefault(key);

    public ConfigNode GetOrAdd(string key)
    {
        if (!_children.TryGetValue(key, out var child))
        {
            child = new ConfigNode(key, this);
            _children.Add(key, child);
            _ordered.Add(child);
        }

        return child;
    }

    /// <summary>Children in index order for lists (the providers sort "10" before "2" otherwise).</summary>
    public void SortIndexes()
    {
        if (IsList)
        {
            _ordered.Sort((a, b) => int.Parse(a.Key, CultureInfo.InvariantCulture).CompareTo(int.Parse(b.Key, CultureInfo.InvariantCulture)));
        }

        foreach (var child in _ordered)
        {
            child.SortIndexes();
        }
    }

    public override string ToString() => Path;

    private static bool IsIndex(string key) => key.Length > 0 && key.Length < 10 && key.All(char.IsAsciiDigit);
}
