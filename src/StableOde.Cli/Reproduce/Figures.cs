using System.Numerics;
using Microsoft.FSharp.Core;
using ScottPlot;
using StableOde.Core;

namespace StableOde.Cli.Reproduce;

/// <summary>A line through the plane: one example's path through the layers.</summary>
/// <param name="Label">Legend text.</param>
/// <param name="X">First coordinates, one per layer.</param>
/// <param name="Y">Second coordinates, one per layer.</param>
internal sealed record Path2D(string Label, double[] X, double[] Y);

/// <summary>The figures of the report, drawn with ScottPlot and written atomically as PNG.</summary>
internal static class Figures
{
    private static readonly Color[] Palette =
    [
        new Color(31, 119, 180), new Color(214, 39, 40), new Color(44, 160, 44), new Color(255, 127, 14),
        new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194), new Color(127, 127, 127),
    ];

    private static readonly MarkerShape[] Markers =
    [
        MarkerShape.FilledCircle, MarkerShape.OpenSquare, MarkerShape.FilledTriangleUp, MarkerShape.Cross,
        MarkerShape.OpenDiamond, MarkerShape.Eks, MarkerShape.FilledTriangleDown, MarkerShape.Asterisk,
    ];

    /// <summary>The colour of series <paramref name="index"/>.</summary>
    public static Color ColorOf(int index) => Palette[index % Palette.Length];

    /// <summary>Saves a plot as PNG, atomically (temporary file, then rename).</summary>
    public static void Save(Plot plot, string path, int width, int height) =>
        WritePng(path, plot.GetImage(width, height));

    private static void WritePng(string path, Image image)
    {
        var bytes = image.GetImageBytes(ImageFormat.Png);
        AtomicFile.write(path, FuncConvert.FromAction<Stream>(stream => stream.Write(bytes)));
    }

    /// <summary>Phase-plane panels side by side: paths of examples through the layers over the force field.</summary>
    public static void PhasePlanes(string path, IReadOnlyList<(string Title, IReadOnlyList<Path2D> Paths, Func<double, double, (double, double)>? Field)> panels,
                                   int panelSize = 420)
    {
        var multi = new Multiplot();
        multi.AddPlots(panels.Count);
        multi.Layout = new ScottPlot.MultiplotLayouts.Columns();
        for (int p = 0; p < panels.Count; p++)
        {
            var plot = multi.GetPlot(p);
            var (title, paths, field) = panels[p];
            var ((xmin, xmax), (ymin, ymax)) = (Limits(paths.SelectMany(q => q.X)), Limits(paths.SelectMany(q => q.Y)));
            if (field is not null)
            {
                const int grid = 15;
                var arrows = new List<RootedCoordinateVector>();
                for (int i = 0; i < grid; i++)
                for (int j = 0; j < grid; j++)
                {
                    double x = xmin + (xmax - xmin) * (i + 0.5) / grid, y = ymin + (ymax - ymin) * (j + 0.5) / grid;
                    var (u, v) = field(x, y);
                    arrows.Add(new RootedCoordinateVector(new Coordinates(x, y), new Vector2((float)u, (float)v)));
                }
                var vf = plot.Add.VectorField(arrows, Colors.Gray);
                vf.ArrowStyle.LineWidth = 1;
            }
            for (int k = 0; k < paths.Count; k++)
            {
                var s = plot.Add.Scatter(paths[k].X, paths[k].Y, ColorOf(k));
                s.LegendText = paths[k].Label;
                s.LineWidth = 2;
                s.MarkerSize = paths[k].X.Length > 60 ? 0 : 4;
                plot.Add.Marker(paths[k].X[0], paths[k].Y[0], MarkerShape.OpenCircle, 9, ColorOf(k));
            }
            plot.Axes.SetLimits(xmin, xmax, ymin, ymax);
            plot.Title(title);
            plot.XLabel("feature 1");
            plot.YLabel("feature 2");
            PlaceLegend(plot);
        }
        WritePng(path, multi.Render(panelSize * panels.Count, panelSize));
    }

    /// <summary>
    /// The axis limits of values: their range padded by a tenth of it on each side, so each axis is
    /// scaled to its own data (a nearly flat orbit fills its panel instead of lying on a line); a
    /// constant gives a range of a tenth of its magnitude (or ±0.001 at zero).
    /// </summary>
    public static (double Min, double Max) Limits(IEnumerable<double> values)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in values)
        {
            (min, max) = (Math.Min(min, v), Math.Max(max, v));
        }

        var pad = 0.1 * (max > min ? max - min : Math.Max(Math.Abs(max), 1e-2));
        return (min - pad, max + pad);
    }

    /// <summary>Places the legend on the right edge of the figure, outside the data area, so it never covers data.</summary>
    public static void PlaceLegend(Plot plot) => plot.ShowLegend(Edge.Right);

    /// <summary>The marker of series <paramref name="index"/>: distinct shapes, so overlapping series stay visible.</summary>
    public static MarkerShape MarkerOf(int index) => Markers[index % Markers.Length];

    /// <summary>Several series against a common x axis (layer index, depth, …).</summary>
    public static void Lines(string path, string title, string xLabel, string yLabel,
                             IReadOnlyList<(string Label, double[] X, double[] Y)> series, bool logY = false, bool depthX = false, int width = 800, int height = 500)
    {
        var plot = new Plot();
        DrawLines(plot, title, xLabel, yLabel, series, logY, depthX);
        Save(plot, path, width, height);
    }

    /// <summary>Panels of line plots side by side.</summary>
    public static void LinePanels(string path, IReadOnlyList<(string Title, string XLabel, string YLabel, IReadOnlyList<(string Label, double[] X, double[] Y)> Series)> panels,
                                  bool depthX = false, int panelWidth = 560, int height = 440)
    {
        var multi = new Multiplot();
        multi.AddPlots(panels.Count);
        multi.Layout = new ScottPlot.MultiplotLayouts.Columns();
        for (int p = 0; p < panels.Count; p++)
            DrawLines(multi.GetPlot(p), panels[p].Title, panels[p].XLabel, panels[p].YLabel, panels[p].Series, logY: false, depthX);
        WritePng(path, multi.Render(panelWidth * panels.Count, height));
    }

    /// <summary>
    /// Images in a grid of panels, row by row, each drawn as a heatmap (row 0 at the top) with its
    /// title and no axes; a row may hold fewer images than <paramref name="columns"/>.
    /// </summary>
    public static void ImageGrid(string path, IReadOnlyList<IReadOnlyList<(string Title, double[,] Pixels)>> rows, int columns, int panelSize = 170)
    {
        var multi = new Multiplot();
        multi.AddPlots(rows.Count * columns);
        multi.Layout = new ScottPlot.MultiplotLayouts.Grid(rows.Count, columns);
        for (int r = 0; r < rows.Count; r++)
        for (int c = 0; c < columns; c++)
        {
            var plot = multi.GetPlot((r * columns) + c);
            plot.Axes.Frameless();
            plot.HideGrid();
            if (c >= rows[r].Count) continue;
            var (title, pixels) = rows[r][c];
            var heatmap = plot.Add.Heatmap(pixels);
            heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
            plot.Title(title, size: 11);
            plot.Axes.SetLimits(-0.5, pixels.GetLength(1) - 0.5, -0.5, pixels.GetLength(0) - 0.5);
        }

        WritePng(path, multi.Render(panelSize * columns, panelSize * rows.Count));
    }

    /// <summary>Draws series; with <paramref name="depthX"/> the x values are log₂ of depths, ticked as the depths.</summary>
    private static void DrawLines(Plot plot, string title, string xLabel, string yLabel,
                                  IReadOnlyList<(string Label, double[] X, double[] Y)> series, bool logY, bool depthX)
    {
        if (depthX)
        {
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                LabelFormatter = v => Math.Pow(2, v).ToString("0", System.Globalization.CultureInfo.InvariantCulture),
                IntegerTicksOnly = true,
            };
        }
        for (int k = 0; k < series.Count; k++)
        {
            var ys = logY ? series[k].Y.Select(Math.Log10).ToArray() : series[k].Y;
            var s = plot.Add.Scatter(series[k].X, ys, ColorOf(k));
            s.LegendText = series[k].Label;
            s.LineWidth = 2;
            s.MarkerSize = series[k].X.Length > 60 ? 0 : 5;
        }
        if (logY)
        {
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                LabelFormatter = v => $"1e{v:0}",
                IntegerTicksOnly = true,
            };
        }
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(logY ? yLabel + " (log scale)" : yLabel);
        PlaceLegend(plot);
    }

    /// <summary>Scatter panels side by side, one colour a class; a panel may have a background of
    /// faint class-coloured squares (a classifier's prediction over the plane).</summary>
    public static void ClassPanels(string path, IReadOnlyList<(string Title, IReadOnlyList<(double[] X, double[] Y)> Points, IReadOnlyList<(double[] X, double[] Y)>? Background)> panels,
                                   int panelSize = 460)
    {
        var multi = new Multiplot();
        multi.AddPlots(panels.Count);
        multi.Layout = new ScottPlot.MultiplotLayouts.Columns();
        for (int p = 0; p < panels.Count; p++)
        {
            var plot = multi.GetPlot(p);
            var (title, points, background) = panels[p];
            if (background is not null)
            {
                for (int k = 0; k < background.Count; k++)
                    plot.Add.Markers(background[k].X, background[k].Y, MarkerShape.FilledSquare, 4, ColorOf(k).WithAlpha(0.25));
            }
            for (int k = 0; k < points.Count; k++)
            {
                var m = plot.Add.Markers(points[k].X, points[k].Y, MarkerShape.FilledCircle, 4, ColorOf(k));
                m.LegendText = $"class {k}";
            }
            plot.Title(title);
            plot.XLabel("feature 1");
            plot.YLabel("feature 2");
            PlaceLegend(plot);
        }
        WritePng(path, multi.Render(panelSize * panels.Count, panelSize));
    }

    /// <summary>Eigenvalues in the complex plane, one colour and marker a group.</summary>
    public static void Spectra(string path, string title, IReadOnlyList<(string Label, Complex[] Values)> groups, int width = 700, int height = 600) =>
        Save(SpectraPlot(title, groups), path, width, height);

    /// <summary>The plot of <see cref="Spectra"/>: a group's markers have their own shape and are drawn open or
    /// thin where the shape allows, so groups with the same eigenvalues (antisymmetric and Verlet) show both.</summary>
    public static Plot SpectraPlot(string title, IReadOnlyList<(string Label, Complex[] Values)> groups)
    {
        var plot = new Plot();
        for (int k = 0; k < groups.Count; k++)
        {
            var m = plot.Add.Markers(groups[k].Values.Select(c => c.Real).ToArray(), groups[k].Values.Select(c => c.Imaginary).ToArray(),
                                     MarkerOf(k), 5 + (3 * (k % 3)), ColorOf(k));
            m.LegendText = groups[k].Label;
        }
        plot.Add.VerticalLine(0, 1, Colors.Black);
        plot.Title(title);
        plot.XLabel("Re λ");
        plot.YLabel("Im λ");
        PlaceLegend(plot);
        return plot;
    }
}
