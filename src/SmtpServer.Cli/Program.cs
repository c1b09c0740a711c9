namespace SmtpServer.Cli;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        var ctl = new Smtpctl(Console.Out, Console.Error, Console.In, Environment.GetEnvironmentVariable, Console.IsInputRedirected);
        return await ctl.RunAsync(args, cancel.Token).ConfigureAwait(false);
    }
}
