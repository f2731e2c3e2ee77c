"""Metric maps from the depth stream: a TSDF (Open3D's VoxelBlockGrid) and a 2D occupancy grid."""
