"""depth-ros-view's work: what one frame shows, its Rerun recording and default layout, and its sources
(a bag through the pipeline, an output bag's recorded messages, a running node's topics)."""
